package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"
)

// Dialect is the SQL flavour of a database/sql connection used by [Inbox].
type Dialect int

const (
	Postgres Dialect = iota + 1 // PostgreSQL through any database/sql driver ($1 placeholders)
	SQLite                      // SQLite (modernc.org/sqlite or another driver)
	MySQL                       // MySQL 8 or MariaDB 10.6+
)

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// ValidIdent reports whether name is usable as a table name: a plain SQL identifier (letters, digits and
// underscores, not starting with a digit, at most 63 bytes), so it can be put in a statement unquoted.
func ValidIdent(name string) error {
	if !identRE.MatchString(name) {
		return fmt.Errorf("%w: %q is not [A-Za-z_][A-Za-z0-9_]{0,62}", ErrInvalidName, name)
	}
	return nil
}

// mysqlKeyChars is the length of the MySQL inbox's key columns: 191 characters of utf8mb4 fit InnoDB's
// 767-byte index prefix.
const mysqlKeyChars = 191

// Inbox de-duplicates messages on the consumer side: [Inbox.Process] records a message's ID in the consumer's
// own transaction before handling it, so a redelivered message (after a crash, a broker redelivery, a relay
// duplicate) finds its ID and is skipped, and the record commits or rolls back with the handler's writes.
// Entries expire after a window chosen at [Inbox.Cleanup], which must exceed the longest redelivery delay.
//
// Inbox works on database/sql transactions; pgstore has the same for pgx. Create one with [NewInbox]; the zero
// value is not usable. It is safe for concurrent use.
type Inbox struct {
	d        Dialect
	table    string
	consumer string
	insert   string
	cleanup  string
	now      func() time.Time
}

// NewInbox returns the inbox of consumer (a name for the consuming service or handler: each consumer sees
// every message once) in table, created by [Inbox.Migrate]. Of the options only [WithClock] applies.
func NewInbox(d Dialect, table, consumer string, opts ...Option) (*Inbox, error) {
	if err := ValidIdent(table); err != nil {
		return nil, fmt.Errorf("outbox: NewInbox: %w", err)
	}
	if consumer == "" {
		return nil, fmt.Errorf("outbox: NewInbox: consumer must not be empty, got %q", consumer)
	}
	if n := utf8.RuneCountInString(consumer); d == MySQL && n > mysqlKeyChars {
		return nil, fmt.Errorf("outbox: NewInbox: consumer must be at most %d characters on MySQL, got %d", mysqlKeyChars, n)
	}
	cfg := defaults()
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	in := &Inbox{d: d, table: table, consumer: consumer, now: cfg.now}
	switch d {
	case Postgres:
		in.insert = "INSERT INTO " + table + " (consumer, message_id, processed_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
		in.cleanup = "DELETE FROM " + table + " WHERE (consumer, message_id) IN (SELECT consumer, message_id FROM " +
			table + " WHERE processed_at < $1 LIMIT $2)"
	case SQLite:
		in.insert = "INSERT INTO " + table + " (consumer, message_id, processed_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
		in.cleanup = "DELETE FROM " + table + " WHERE rowid IN (SELECT rowid FROM " + table + " WHERE processed_at < ? LIMIT ?)"
	case MySQL:
		in.insert = "INSERT IGNORE INTO " + table + " (consumer, message_id, processed_at) VALUES (?, ?, ?)"
		in.cleanup = "DELETE FROM " + table + " WHERE processed_at < ? LIMIT ?"
	default:
		return nil, fmt.Errorf("outbox: NewInbox: unknown dialect, got %d", int(d))
	}
	return in, nil
}

// Migrate creates the inbox table and its index when they do not exist.
func (in *Inbox) Migrate(ctx context.Context, db *sql.DB) error {
	text := "TEXT"
	if in.d == MySQL {
		text = fmt.Sprintf("VARCHAR(%d)", mysqlKeyChars)
	}
	stmts := []string{
		"CREATE TABLE IF NOT EXISTS " + in.table + " (consumer " + text + " NOT NULL, message_id " + text +
			" NOT NULL, processed_at BIGINT NOT NULL, PRIMARY KEY (consumer, message_id))",
	}
	if in.d == MySQL {
		// MySQL has no CREATE INDEX IF NOT EXISTS; the index is declared inline.
		stmts[0] = "CREATE TABLE IF NOT EXISTS " + in.table + " (consumer " + text + " NOT NULL, message_id " + text +
			" NOT NULL, processed_at BIGINT NOT NULL, PRIMARY KEY (consumer, message_id), KEY (processed_at))"
	} else {
		stmts = append(stmts, "CREATE INDEX IF NOT EXISTS "+in.table+"_processed_at ON "+in.table+" (processed_at)")
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("outbox: migrating inbox %s: %w", in.table, err)
		}
	}
	return nil
}

// Process calls fn once per message ID for this consumer: it records messageID in tx and calls fn, which should
// do its writes in the same tx. When the ID was already recorded by a committed transaction, fn is not called
// and Process returns [ErrDuplicate]: acknowledge the message. When fn fails, roll tx back so the message can
// be processed again. A concurrent Process of the same ID in another transaction waits for that one to end.
// On MySQL IDs (and consumer names) are at most 191 characters; longer ones are refused with an error.
func (in *Inbox) Process(ctx context.Context, tx *sql.Tx, messageID string, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// INSERT IGNORE would truncate a longer id, so that ids sharing a prefix would count as one.
	if n := utf8.RuneCountInString(messageID); in.d == MySQL && n > mysqlKeyChars {
		return fmt.Errorf("outbox: Inbox.Process: message id must be at most %d characters on MySQL, got %d", mysqlKeyChars, n)
	}
	res, err := tx.ExecContext(ctx, in.insert, in.consumer, messageID, in.now().UnixNano())
	if err != nil {
		return fmt.Errorf("outbox: recording message %s in inbox: %w", messageID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("outbox: recording message %s in inbox: %w", messageID, err)
	}
	if n == 0 {
		return ErrDuplicate
	}
	return fn(ctx)
}

// Cleanup deletes inbox entries (of every consumer) older than window, batch rows per statement, until none
// is left; it returns how many it deleted. Run it periodically; a message redelivered after window is
// processed again.
func (in *Inbox) Cleanup(ctx context.Context, db *sql.DB, window time.Duration, batch int) (int, error) {
	if batch < 1 {
		return 0, fmt.Errorf("outbox: Inbox.Cleanup: batch must be >= 1, got %d", batch)
	}
	before := in.now().Add(-window).UnixNano()
	return DeleteInBatches(ctx, batch, func(ctx context.Context) (int64, error) {
		res, err := db.ExecContext(ctx, in.cleanup, before, batch)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	})
}

// DeleteInBatches calls del until it deletes fewer than batch rows, returning the total. Stores use it for
// bounded deletes.
func DeleteInBatches(ctx context.Context, batch int, del func(context.Context) (int64, error)) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := del(ctx)
		total += int(n)
		if err != nil {
			return total, fmt.Errorf("outbox: deleting in batches: %w", err)
		}
		if n < int64(batch) {
			return total, nil
		}
	}
}
