package storetest

import (
	"context"
	"path/filepath"
	"testing"

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
