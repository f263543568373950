// Package mysqlstore is an outbox [outbox.Store] on MySQL 8 or MariaDB 10.6+ (InnoDB) through database/sql
// (github.com/go-sql-driver/mysql).
//
// # Commit order
//
// AUTO_INCREMENT values are handed out at insert, not at commit, and MySQL has no equivalent of PostgreSQL's
// transaction-id watermark. So [Store.Enqueue] first locks the partition rows of the messages it writes
// (SELECT ... FOR UPDATE, in partition order, so transactions never deadlock on them): transactions that
// write to the same partition serialize from their enqueue to their commit, and within a partition the
// sequence is commit order. Enqueue last in the transaction to keep that window short. The cost is
// throughput: concurrent transactions writing the same partitions wait for each other's commits (more
// partitions, [WithPartitions], spread them). The relay claims by partition and does not claim ahead.
//
// Several relays share the partitions through the same lease table as the other stores, taken with
// FOR UPDATE SKIP LOCKED. There is no wake-up on commit: relays poll.
package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/internal/storeutil"
)

// Option configures a [Store].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config = storeutil.Config

// WithTable sets the outbox table's name (default "outbox"); the dead-letter, lease and relay tables are named
// after it with the suffixes _dead, _leases, _relays and _locks. The last one wins.
func WithTable(name string) Option { return optionFunc(func(c *config) { c.Table = name }) }

// WithPartitions sets how many partitions keys are hashed into (default 16). Change it only with an empty
// outbox. The last one wins.
func WithPartitions(n int) Option { return optionFunc(func(c *config) { c.Partitions = n }) }

// WithClock sets the time used to stamp CreatedAt at enqueue (default [time.Now]). The last one wins.
func WithClock(now func() time.Time) Option { return optionFunc(func(c *config) { c.Now = now }) }

// Store is the MySQL/MariaDB outbox. Create it with [New] and its tables with [Store.Migrate]. It is safe for
// concurrent use; the zero value is not usable.
type Store struct {
	db  *sql.DB
	cfg config
}

var _ interface {
	outbox.Store
	outbox.DeadLetters
} = (*Store)(nil)

// New returns the store of the outbox in db.
func New(db *sql.DB, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, errors.New("mysqlstore: New: db must not be nil")
	}
	cfg, err := storeutil.NewConfig("mysqlstore", func(c *config) {
		for _, o := range opts {
			o.apply(c)
		}
	})
	if err != nil {
		return nil, err
	}
	return &Store{db: db, cfg: cfg}, nil
}

// DB returns the database the store works on.
func (s *Store) DB() *sql.DB { return s.db }

// Migrate creates the store's tables when they do not exist, and the lease rows of its partitions.
func (s *Store) Migrate(ctx context.Context) error {
	t := s.cfg.Table
	cols := `id VARCHAR(191) NOT NULL, topic VARCHAR(255) NOT NULL, msg_key VARCHAR(191) NOT NULL DEFAULT '',
		part INT NOT NULL, payload LONGBLOB, headers LONGBLOB, created_at BIGINT NOT NULL, attempts INT NOT NULL DEFAULT 0`
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS ` + t + ` (seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, ` + cols + `,
			last_error TEXT, next_attempt_at BIGINT NULL, published_at BIGINT NULL,
			UNIQUE KEY (id), KEY (part, published_at, seq), KEY (msg_key, next_attempt_at), KEY (published_at)) ENGINE=InnoDB`,
		`CREATE TABLE IF NOT EXISTS ` + t + `_dead (seq BIGINT NOT NULL PRIMARY KEY, ` + cols + `,
			last_error TEXT NOT NULL, failed_at BIGINT NOT NULL, parked BOOL NOT NULL,
			UNIQUE KEY (id), KEY (msg_key, parked)) ENGINE=InnoDB`,
		`CREATE TABLE IF NOT EXISTS ` + t + `_leases (part INT NOT NULL PRIMARY KEY, owner VARCHAR(64) NOT NULL DEFAULT '',
			epoch BIGINT NOT NULL DEFAULT 0, expires_at BIGINT NOT NULL DEFAULT 0) ENGINE=InnoDB`,
		`CREATE TABLE IF NOT EXISTS ` + t + `_relays (owner VARCHAR(64) NOT NULL PRIMARY KEY, expires_at BIGINT NOT NULL) ENGINE=InnoDB`,
		`CREATE TABLE IF NOT EXISTS ` + t + `_locks (part INT NOT NULL PRIMARY KEY) ENGINE=InnoDB`,
	}
	for _, table := range []string{t + "_leases", t + "_locks"} {
		var b strings.Builder
		b.WriteString("INSERT IGNORE INTO " + table + " (part) VALUES ")
		for p := range s.cfg.Partitions {
			if p > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "(%d)", p)
		}
		stmts = append(stmts, b.String())
	}
	for _, q := range stmts {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("mysqlstore: migrating %s: %w", t, err)
		}
	}
	return nil
}

// placeholders returns "?,?,...,?" with n marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// maxRowsPerInsert keeps a multi-row INSERT well under the protocol's 65535 placeholders.
const maxRowsPerInsert = 65535 / 7

// Enqueue writes msgs to the outbox in tx, the application's transaction: it locks the partitions it writes
// (see the package doc), then inserts in one multi-row INSERT per 9362 messages. It fills missing IDs and
// CreatedAt and captures trace headers from ctx; msgs is not modified.
func (s *Store) Enqueue(ctx context.Context, tx *sql.Tx, msgs ...outbox.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	now := s.cfg.Now()
	rows := make([]any, 0, 7*len(msgs))
	var parts []any
	seen := map[int]bool{}
	for i, m := range msgs {
		if m.Topic == "" {
			return fmt.Errorf("mysqlstore: Enqueue: message %d has no topic", i)
		}
		outbox.Prepare(ctx, &m, now)
		h, err := storeutil.EncodeHeaders(m.Headers)
		if err != nil {
			return fmt.Errorf("mysqlstore: Enqueue: %w", err)
		}
		p := outbox.Partition(m.Key, m.ID, s.cfg.Partitions)
		if !seen[p] {
			seen[p] = true
			parts = append(parts, p)
		}
		rows = append(rows, m.ID, m.Topic, m.Key, p, m.Payload, h, m.CreatedAt.UnixNano())
	}
	slices.SortFunc(parts, func(a, b any) int { return a.(int) - b.(int) })
	if _, err := tx.ExecContext(ctx, "SELECT part FROM "+s.cfg.Table+"_locks WHERE part IN ("+placeholders(len(parts))+
		") ORDER BY part FOR UPDATE", parts...); err != nil {
		return fmt.Errorf("mysqlstore: Enqueue: locking partitions: %w", err)
	}
	for lo := 0; lo < len(msgs); lo += maxRowsPerInsert {
		hi := min(lo+maxRowsPerInsert, len(msgs))
		q := "INSERT INTO " + s.cfg.Table + " (id, topic, msg_key, part, payload, headers, created_at) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?),", hi-lo), ",")
		if _, err := tx.ExecContext(ctx, q, rows[7*lo:7*hi]...); err != nil {
			return fmt.Errorf("mysqlstore: Enqueue: %w", err)
		}
	}
	return nil
}
