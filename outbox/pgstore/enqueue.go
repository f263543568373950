package pgstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/internal/storeutil"
)

// columns holds a batch of prepared messages, one slice per column.
type columns struct {
	ids, topics, keys, headers []string
	parts                      []int32
	payloads                   [][]byte
	created                    []time.Time
}

func (s *Store) prepare(ctx context.Context, msgs []outbox.Message) (*columns, error) {
	now := s.cfg.Now()
	c := &columns{
		ids: make([]string, len(msgs)), topics: make([]string, len(msgs)), keys: make([]string, len(msgs)),
		headers: make([]string, len(msgs)), parts: make([]int32, len(msgs)), payloads: make([][]byte, len(msgs)),
		created: make([]time.Time, len(msgs)),
	}
	for i, m := range msgs {
		if m.Topic == "" {
			return nil, fmt.Errorf("pgstore: Enqueue: message %d has no topic", i)
		}
		outbox.Prepare(ctx, &m, now)
		h, err := storeutil.EncodeHeaders(m.Headers)
		if err != nil {
			return nil, fmt.Errorf("pgstore: Enqueue: %w", err)
		}
		c.ids[i], c.topics[i], c.keys[i], c.headers[i] = m.ID, m.Topic, m.Key, string(h)
		c.parts[i] = int32(outbox.Partition(m.Key, m.ID, s.cfg.Partitions))
		c.payloads[i], c.created[i] = m.Payload, m.CreatedAt
	}
	return c, nil
}

// Enqueue writes msgs to the outbox in tx, the application's pgx transaction, in one statement and one round
// trip whatever their number. It fills missing IDs and CreatedAt and captures trace headers from ctx (see
// [outbox.Prepare]); msgs is not modified. The messages are published once tx commits (which also wakes the
// listening relays) and never if it rolls back.
func (s *Store) Enqueue(ctx context.Context, tx pgx.Tx, msgs ...outbox.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	c, err := s.prepare(ctx, msgs)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, s.q.insert, c.ids, c.topics, c.keys, c.parts, c.payloads, c.headers, c.created); err != nil {
		return fmt.Errorf("pgstore: Enqueue: %w", err)
	}
	return nil
}

// maxRowsPerInsert keeps a multi-row INSERT under PostgreSQL's 65535 bind parameters.
const maxRowsPerInsert = 65535 / 7

// EnqueueSQL is [Store.Enqueue] for a database/sql transaction on the same database (through any PostgreSQL
// driver, for example github.com/jackc/pgx/v5/stdlib): one multi-row INSERT per 9362 messages.
func (s *Store) EnqueueSQL(ctx context.Context, tx *sql.Tx, msgs ...outbox.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := s.prepare(ctx, msgs)
	if err != nil {
		return err
	}
	for lo := 0; lo < len(msgs); lo += maxRowsPerInsert {
		hi := min(lo+maxRowsPerInsert, len(msgs))
		var b strings.Builder
		b.WriteString("INSERT INTO " + s.cfg.Table + " (id, topic, msg_key, part, payload, headers, created_at) VALUES ")
		args := make([]any, 0, 7*(hi-lo))
		for i := lo; i < hi; i++ {
			if i > lo {
				b.WriteByte(',')
			}
			n := len(args)
			b.WriteByte('(')
			for j := 1; j <= 7; j++ {
				if j > 1 {
					b.WriteByte(',')
				}
				b.WriteString("$" + strconv.Itoa(n+j))
				if j == 6 {
					b.WriteString("::jsonb")
				}
			}
			b.WriteByte(')')
			var h any
			if c.headers[i] != "" {
				h = c.headers[i]
			}
			args = append(args, c.ids[i], c.topics[i], c.keys[i], c.parts[i], c.payloads[i], h, c.created[i])
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("pgstore: EnqueueSQL: %w", err)
		}
	}
	return nil
}
