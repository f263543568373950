package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/pgstore"
	"github.com/sluice-go/sluice/outbox/sqlitestore"
)

// errNotFound is what the store returns for a row that does not exist.
var errNotFound = errors.New("not found")

// order is an order as stored and as the API returns it.
type order struct {
	ID          string    `json:"id"`
	UserID      int64     `json:"user_id"`
	SKU         string    `json:"sku"`
	Quantity    int       `json:"quantity"`
	AmountCents int64     `json:"amount_cents"`
	ChargeID    string    `json:"charge_id"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
}

// user is a customer profile, read through the two-level cache.
type user struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// store keeps orders and users in SQL, SQLite or PostgreSQL, through database/sql: one code path for both, with
// the outbox's enqueue for *sql.Tx so that an order and its event commit together.
type store struct {
	db       *sql.DB
	postgres bool
	enqueue  func(ctx context.Context, tx *sql.Tx, msgs ...outbox.Message) error
	relay    outbox.Store // what the outbox relay reads
	notify   func()       // wakes the relay after a commit (PostgreSQL's trigger does it by itself)
	close    func()
}

// openStore opens PostgreSQL when dsn is set and an SQLite file in dataDir otherwise, and creates the tables.
func openStore(ctx context.Context, dsn, dataDir string) (*store, error) {
	s := &store{}
	if dsn != "" {
		pg, err := pgxpool.New(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		ob, err := pgstore.New(pg, pgstore.WithTable("order_outbox"))
		if err != nil {
			pg.Close()
			return nil, err
		}
		s.db, s.postgres, s.enqueue, s.relay, s.notify = stdlib.OpenDBFromPool(pg), true, ob.EnqueueSQL, ob, func() {}
		s.close = func() { s.db.Close(); pg.Close() }
	} else {
		db, err := sqlitestore.Open(filepath.Join(dataDir, "orders.db"))
		if err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		ob, err := sqlitestore.New(db, sqlitestore.WithTable("order_outbox"))
		if err != nil {
			db.Close()
			return nil, err
		}
		s.db, s.enqueue, s.relay, s.notify = db, ob.Enqueue, ob, ob.Notify
		s.close = func() { db.Close() }
	}
	if err := s.migrate(ctx); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

type migrator interface{ Migrate(context.Context) error }

func (s *store) migrate(ctx context.Context) error {
	if err := s.relay.(migrator).Migrate(ctx); err != nil {
		return fmt.Errorf("outbox tables: %w", err)
	}
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS users (id BIGINT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, user_id BIGINT NOT NULL, sku TEXT NOT NULL,
			quantity INTEGER NOT NULL, amount_cents BIGINT NOT NULL, charge_id TEXT NOT NULL, status TEXT NOT NULL,
			created_at TEXT NOT NULL)`,
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("creating tables: %w", err)
		}
	}
	return nil
}

// q rewrites ? placeholders as $1, $2... for PostgreSQL.
func (s *store) q(query string) string {
	if !s.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// seedUsers inserts users 1..n when they do not exist yet.
func (s *store) seedUsers(ctx context.Context, n int) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ins := s.q(`INSERT INTO users (id, name, email) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`)
	for i := 1; i <= n; i++ {
		if _, err := tx.ExecContext(ctx, ins, i, fmt.Sprintf("User %d", i), fmt.Sprintf("user%d@example.com", i)); err != nil {
			return fmt.Errorf("seeding users: %w", err)
		}
	}
	return tx.Commit()
}

// createOrder writes o and msg in one transaction: the event is published if and only if the order exists.
func (s *store) createOrder(ctx context.Context, o order, msg outbox.Message) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // a no-op after Commit
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO orders (id, user_id, sku, quantity, amount_cents, charge_id, status,
		created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		o.ID, o.UserID, o.SKU, o.Quantity, o.AmountCents, o.ChargeID, o.Status, o.CreatedAt.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("inserting order: %w", err)
	}
	if err := s.enqueue(ctx, tx, msg); err != nil {
		return fmt.Errorf("enqueueing event: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.notify()
	return nil
}

func (s *store) getOrder(ctx context.Context, id string) (order, error) {
	var o order
	var created string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, user_id, sku, quantity, amount_cents, charge_id, status,
		created_at FROM orders WHERE id = ?`), id).
		Scan(&o.ID, &o.UserID, &o.SKU, &o.Quantity, &o.AmountCents, &o.ChargeID, &o.Status, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return o, errNotFound
	}
	if err != nil {
		return o, err
	}
	o.CreatedAt, err = time.Parse(time.RFC3339Nano, created)
	return o, err
}

func (s *store) getUser(ctx context.Context, id int64) (user, error) {
	u := user{ID: id}
	err := s.db.QueryRowContext(ctx, s.q(`SELECT name, email FROM users WHERE id = ?`), id).Scan(&u.Name, &u.Email)
	if errors.Is(err, sql.ErrNoRows) {
		return u, errNotFound
	}
	return u, err
}
