package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/sqlitestore"
)

// NewSQLite returns a migrated SQLite store in a fresh file under t.TempDir, closed at the end of t.
func NewSQLite(t testing.TB, opts ...sqlitestore.Option) *sqlitestore.Store {
	t.Helper()
	db, err := sqlitestore.Open(filepath.Join(t.TempDir(), "outbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := sqlitestore.New(db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// EnqueueSQLite writes msgs to s in one committed transaction and wakes the relays of this process.
func EnqueueSQLite(t testing.TB, s *sqlitestore.Store, msgs []outbox.Message) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(ctx, tx, msgs...); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	s.Notify()
}
