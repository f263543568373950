package sqlitestore_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/internal/storetest"
	"github.com/sluice-go/sluice/outbox/sqlitestore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newStore(t *testing.T) *sqlitestore.Store { return storetest.NewSQLite(t) }

func enqueue(ctx context.Context, store outbox.Store, msgs []outbox.Message, commit bool) error {
	s := store.(*sqlitestore.Store)
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := s.Enqueue(ctx, tx, msgs...); err != nil {
		tx.Rollback()
		return err
	}
	if !commit {
		return tx.Rollback()
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.Notify()
	return nil
}

func TestSuite(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New:     func(t *testing.T) outbox.Store { return newStore(t) },
		Enqueue: enqueue,
	})
}

func TestNewValidates(t *testing.T) {
	db, err := sqlitestore.Open(filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		opt  sqlitestore.Option
		want string
	}{
		{sqlitestore.WithTable("bad name"), `sqlitestore: WithTable: name must be an identifier of at most 50 bytes, got "bad name"`},
		{sqlitestore.WithTable("x; DROP TABLE y"), `sqlitestore: WithTable: name must be an identifier of at most 50 bytes, got "x; DROP TABLE y"`},
		{sqlitestore.WithPartitions(0), "sqlitestore: WithPartitions: partitions must be in [1, 4096], got 0"},
	} {
		if _, err := sqlitestore.New(db, tc.opt); err == nil || err.Error() != tc.want {
			t.Errorf("New: %v, want %q", err, tc.want)
		}
	}
}

// TestEnqueueChunks: more messages than one INSERT takes are written in chunks, and an error names the
// message by its index in the call.
func TestEnqueueChunks(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	msgs := storetest.Messages(t.Name(), 5000, 7)
	bad := append([]outbox.Message(nil), msgs...)
	bad[4500].Topic = ""
	if err := enqueue(ctx, s, bad, true); err == nil || !strings.Contains(err.Error(), "message 4500 has no topic") {
		t.Fatalf("Enqueue with message 4500 lacking a topic = %v", err)
	}
	if err := enqueue(ctx, s, msgs, true); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Stats(ctx); err != nil || st.Pending != int64(len(msgs)) {
		t.Fatalf("Stats = %+v, %v; want %d pending", st, err, len(msgs))
	}
}
