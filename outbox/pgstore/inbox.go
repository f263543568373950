package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-go/sluice/outbox"
)

// Inbox is [outbox.Inbox] for pgx transactions: it records processed message IDs in the consumer's own
// transaction so that redelivered messages are skipped. The table has the same layout as outbox.Inbox's
// Postgres table, so both can share it. Create one with [NewInbox]; it is safe for concurrent use.
type Inbox struct {
	table, consumer string
	now             func() time.Time
}

// NewInbox returns the inbox of consumer in table. now is the clock (nil for [time.Now]).
func NewInbox(table, consumer string, now func() time.Time) (*Inbox, error) {
	if err := outbox.ValidIdent(table); err != nil {
		return nil, fmt.Errorf("pgstore: NewInbox: %w", err)
	}
	if consumer == "" {
		return nil, fmt.Errorf("pgstore: NewInbox: consumer must not be empty, got %q", consumer)
	}
	if now == nil {
		now = time.Now
	}
	return &Inbox{table: table, consumer: consumer, now: now}, nil
}

// Migrate creates the inbox table and its index when they do not exist.
func (in *Inbox) Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+in.table+" (consumer TEXT NOT NULL, message_id TEXT NOT NULL,"+
		" processed_at BIGINT NOT NULL, PRIMARY KEY (consumer, message_id));"+
		" CREATE INDEX IF NOT EXISTS "+in.table+"_processed_at ON "+in.table+" (processed_at)")
	if err != nil {
		return fmt.Errorf("pgstore: migrating inbox %s: %w", in.table, err)
	}
	return nil
}

// Process records messageID in tx and calls fn, or returns [outbox.ErrDuplicate] without calling fn when a
// committed transaction already recorded it. See [outbox.Inbox.Process].
func (in *Inbox) Process(ctx context.Context, tx pgx.Tx, messageID string, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, "INSERT INTO "+in.table+" (consumer, message_id, processed_at) VALUES ($1, $2, $3)"+
		" ON CONFLICT DO NOTHING", in.consumer, messageID, in.now().UnixNano())
	if err != nil {
		return fmt.Errorf("pgstore: recording message %s in inbox: %w", messageID, err)
	}
	if tag.RowsAffected() == 0 {
		return outbox.ErrDuplicate
	}
	return fn(ctx)
}

// Cleanup deletes entries older than window, batch rows per statement, until none is left, and returns how
// many it deleted.
func (in *Inbox) Cleanup(ctx context.Context, pool *pgxpool.Pool, window time.Duration, batch int) (int, error) {
	if batch < 1 {
		return 0, fmt.Errorf("pgstore: Inbox.Cleanup: batch must be >= 1, got %d", batch)
	}
	before := in.now().Add(-window).UnixNano()
	q := "DELETE FROM " + in.table + " WHERE (consumer, message_id) IN (SELECT consumer, message_id FROM " + in.table +
		" WHERE processed_at < $1 LIMIT $2)"
	return outbox.DeleteInBatches(ctx, batch, func(ctx context.Context) (int64, error) {
		tag, err := pool.Exec(ctx, q, before, batch)
		return tag.RowsAffected(), err
	})
}
