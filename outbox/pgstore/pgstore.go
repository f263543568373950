// Package pgstore is an outbox [outbox.Store] on PostgreSQL (13 or later) through github.com/jackc/pgx/v5.
//
// # Commit order
//
// A sequence number is assigned when a row is inserted, not when its transaction commits, so two concurrent
// transactions can commit out of sequence order and a reader that only follows the sequence would skip the
// late one. Each row therefore stores the id of the transaction that wrote it (xid8, pg_current_xact_id()),
// and a relay only claims rows whose transaction is older than every transaction still running
// (xid < pg_snapshot_xmin(pg_current_snapshot())), in (xid, seq) order. A row becomes claimable only once no
// earlier transaction can still commit, so nothing is skipped, and a key's messages go out in the order of
// the ids of the transactions that wrote them. PostgreSQL gives a transaction its id at its first write or
// row lock, not at commit; for transactions that serialize on the same business row that is their commit
// order as long as that row's UPDATE (or SELECT ... FOR UPDATE) is their first write. A transaction that
// wrote elsewhere before it waited for the row has the smaller id although it commits second, and its
// message goes out first: lock or update the row that orders a key's changes before anything else. xid8
// ids are 64-bit and never wrap around. The cost: a long-running transaction anywhere in the database
// holds delivery back until it ends; keep transactions short, and watch the oldest-pending-age metric.
//
// Transaction ids are per cluster: after restoring a dump of a non-empty outbox into another cluster, pending
// rows may carry ids the new cluster has not reached yet, and would wait until it does. Renumber them once
// after the restore: UPDATE outbox SET xid = '1'::xid8 WHERE published_at IS NULL (order by seq then holds).
//
// # Several relays
//
// Keys hash into partitions (default 16). The lease table holds one row per partition with its owner, a
// fencing epoch and an expiry; relays take free or expired partitions with FOR UPDATE SKIP LOCKED, each
// aiming at its fair share, and complete messages only while they still hold the partition under the same
// epoch (checked under FOR SHARE in the completing transaction). Message rows themselves are not locked: a
// partition has one reader, and letting a second reader skip locked rows is exactly what breaks per-key
// order in SKIP LOCKED queues.
//
// # Wake-up
//
// A statement-level trigger sends NOTIFY on the table's channel when rows are inserted; PostgreSQL delivers it
// at commit. [Store.Wake] listens on a dedicated connection (not from the pool, so it works behind a
// transaction-pooling PgBouncer as long as that connection goes to PostgreSQL directly or through a
// session pool); the relay's poll interval covers lost notifications.
//
// # Vacuum
//
// Every published message leaves dead tuples: one when deleted at once (the default), two with retention
// (the published_at update, then the delete). Autovacuum reclaims them only up to the oldest snapshot still
// open, so long transactions also let the table bloat. Retention deletes in bounded batches so no statement
// holds locks for long; on a busy outbox lower the table's autovacuum_vacuum_scale_factor (for example
// ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0.01)) so vacuum keeps up.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/internal/storeutil"
)

// Option configures a [Store].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config = storeutil.Config

// WithTable sets the outbox table's name (default "outbox", at most 50 bytes, a plain identifier, optionally
// no schema: set search_path for that); the dead-letter, lease and relay tables are named after it with the
// suffixes _dead, _leases and _relays, and the notification channel is the table's name. The last one wins.
func WithTable(name string) Option { return optionFunc(func(c *config) { c.Table = name }) }

// WithPartitions sets how many partitions keys are hashed into (default 16), the unit relays lease: more
// partitions spread work over more relays. Change it only with an empty outbox, or per-key order breaks for
// messages in flight. The last one wins.
func WithPartitions(n int) Option { return optionFunc(func(c *config) { c.Partitions = n }) }

// WithClock sets the time used to stamp CreatedAt at enqueue (default [time.Now]). The last one wins.
func WithClock(now func() time.Time) Option { return optionFunc(func(c *config) { c.Now = now }) }

// Store is the PostgreSQL outbox. Create it with [New] and its tables with [Store.Migrate]. It is safe for
// concurrent use; the zero value is not usable.
type Store struct {
	pool *pgxpool.Pool
	cfg  config
	q    queries
}

var _ interface {
	outbox.Store
	outbox.Waker
	outbox.DeadLetters
} = (*Store)(nil)

type queries struct {
	insert, claim, held, fenced, retry, toDead, purge, stats, list string
}

// New returns the store of the outbox reached through pool.
func New(pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: New: pool must not be nil")
	}
	cfg, err := storeutil.NewConfig("pgstore", func(c *config) {
		for _, o := range opts {
			o.apply(c)
		}
	})
	if err != nil {
		return nil, err
	}
	t := cfg.Table
	cols := "seq, xid::text::bigint, id, topic, msg_key, part, payload, headers, created_at, attempts"
	s := &Store{pool: pool, cfg: cfg}
	// The owner's lease rows under the claimed epochs ($1 owner, $2 partitions, $3 epochs), held FOR SHARE
	// until the statement's transaction ends so that no takeover commits in between.
	fenced := "WITH l AS (SELECT part FROM " + t + "_leases WHERE owner = $1 AND (part, epoch) IN" +
		" (SELECT * FROM unnest($2::int[], $3::bigint[])) FOR SHARE) "
	s.q = queries{
		insert: "INSERT INTO " + t + " (id, topic, msg_key, part, payload, headers, created_at)" +
			" SELECT u.id, u.topic, u.k, u.p, u.pl, NULLIF(u.h, '')::jsonb, u.c FROM unnest($1::text[], $2::text[]," +
			" $3::text[], $4::int[], $5::bytea[], $6::text[], $7::timestamptz[]) AS u(id, topic, k, p, pl, h, c)",
		// Keys waiting behind a message in backoff or a parked dead letter are collected once (an InitPlan),
		// not probed per row: that keeps the plan cheap enough that PostgreSQL does not JIT-compile it.
		claim: "SELECT " + cols + " FROM " + t + " o WHERE o.published_at IS NULL" +
			" AND o.xid < (SELECT pg_snapshot_xmin(pg_current_snapshot())) AND o.part = ANY($1)" +
			" AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= $2)" +
			" AND NOT (o.msg_key = ANY(ARRAY(SELECT b.msg_key FROM " + t + " b WHERE b.published_at IS NULL" +
			" AND b.next_attempt_at > $2 AND b.msg_key <> '' UNION ALL SELECT d.msg_key FROM " + t + "_dead d WHERE d.parked)))" +
			" AND (o.xid, o.seq) > ($4::text::xid8, $5) ORDER BY o.xid, o.seq LIMIT $3",
		held: "SELECT EXISTS (SELECT 1 FROM " + t + " b WHERE b.next_attempt_at IS NOT NULL AND b.published_at IS NULL" +
			" AND b.next_attempt_at > $1) OR EXISTS (SELECT 1 FROM " + t + "_dead WHERE parked)",
		fenced: fenced,
		retry: fenced + "UPDATE " + t + " SET attempts = attempts + 1, last_error = $5, next_attempt_at = $6" +
			" WHERE seq = $4 AND published_at IS NULL AND part IN (SELECT part FROM l)",
		toDead: "WITH m AS (DELETE FROM " + t + " WHERE seq = $4 RETURNING *) INSERT INTO " + t + "_dead" +
			" (seq, xid, id, topic, msg_key, part, payload, headers, created_at, attempts, last_error, failed_at, parked)" +
			" SELECT seq, xid, id, topic, msg_key, part, payload, headers, created_at, attempts + 1, $1, $2, $3 FROM m",
		purge: "DELETE FROM " + t + " WHERE seq IN (SELECT seq FROM " + t + " WHERE published_at < $1 LIMIT $2)",
		stats: "SELECT (SELECT count(*) FROM " + t + " WHERE published_at IS NULL), (SELECT min(created_at) FROM " + t +
			" WHERE published_at IS NULL), (SELECT count(*) FROM " + t + "_dead)",
		list: "SELECT id, topic, msg_key, payload, headers, created_at, attempts, last_error, failed_at FROM " + t +
			"_dead WHERE (xid, seq) > coalesce((SELECT (xid, seq) FROM " + t + "_dead WHERE id = $1), ('0'::xid8, -1))" +
			" ORDER BY xid, seq LIMIT $2",
	}
	return s, nil
}

// Pool returns the pool the store works on.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Table returns the outbox table's name.
func (s *Store) Table() string { return s.cfg.Table }

// Migrate creates the store's tables, indexes, notification trigger and lease rows when they do not exist,
// and adds lease rows when the partition count grew. It is safe to run at every start, by several processes.
func (s *Store) Migrate(ctx context.Context) error {
	t := s.cfg.Table
	ddl := `
CREATE TABLE IF NOT EXISTS ` + t + ` (
	seq bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
	id text NOT NULL UNIQUE,
	topic text NOT NULL,
	msg_key text NOT NULL DEFAULT '',
	part int NOT NULL,
	payload bytea,
	headers jsonb,
	created_at timestamptz NOT NULL,
	attempts int NOT NULL DEFAULT 0,
	last_error text,
	next_attempt_at timestamptz,
	published_at timestamptz);
CREATE INDEX IF NOT EXISTS ` + t + `_pending ON ` + t + ` (xid, seq) WHERE published_at IS NULL;
CREATE INDEX IF NOT EXISTS ` + t + `_backoff ON ` + t + ` (msg_key) WHERE next_attempt_at IS NOT NULL AND published_at IS NULL;
CREATE INDEX IF NOT EXISTS ` + t + `_published ON ` + t + ` (published_at) WHERE published_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS ` + t + `_dead (
	seq bigint PRIMARY KEY,
	xid xid8 NOT NULL,
	id text NOT NULL UNIQUE,
	topic text NOT NULL,
	msg_key text NOT NULL,
	part int NOT NULL,
	payload bytea,
	headers jsonb,
	created_at timestamptz NOT NULL,
	attempts int NOT NULL,
	last_error text NOT NULL,
	failed_at timestamptz NOT NULL,
	parked boolean NOT NULL);
CREATE INDEX IF NOT EXISTS ` + t + `_dead_parked ON ` + t + `_dead (msg_key) WHERE parked;
CREATE INDEX IF NOT EXISTS ` + t + `_dead_order ON ` + t + `_dead (xid, seq);
CREATE TABLE IF NOT EXISTS ` + t + `_leases (part int PRIMARY KEY, owner text NOT NULL DEFAULT '',
	epoch bigint NOT NULL DEFAULT 0, expires_at timestamptz NOT NULL DEFAULT '-infinity');
CREATE TABLE IF NOT EXISTS ` + t + `_relays (owner text PRIMARY KEY, expires_at timestamptz NOT NULL);
CREATE OR REPLACE FUNCTION ` + t + `_notify() RETURNS trigger LANGUAGE plpgsql AS
	$$BEGIN PERFORM pg_notify('` + t + `', ''); RETURN NULL; END$$;
DO $$BEGIN
	CREATE TRIGGER ` + t + `_notify AFTER INSERT ON ` + t + ` FOR EACH STATEMENT EXECUTE FUNCTION ` + t + `_notify();
EXCEPTION WHEN duplicate_object THEN NULL;
END$$;`
	// The advisory lock serializes concurrent migrations of the same table (CREATE IF NOT EXISTS races).
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "sluice-outbox-"+t); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, ddl); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO "+t+"_leases (part) SELECT generate_series(0, $1::int - 1) ON CONFLICT DO NOTHING",
			s.cfg.Partitions)
		return err
	})
	if err != nil {
		return fmt.Errorf("pgstore: migrating %s: %w", t, err)
	}
	return nil
}
