package mysqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"go.uber.org/goleak"

	"github.com/sluice-go/sluice/internal/testsvc"
	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/internal/storetest"
	"github.com/sluice-go/sluice/outbox/mysqlstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var seq atomic.Int64

func newStore(t *testing.T) outbox.Store {
	t.Helper()
	db, err := sql.Open("mysql", testsvc.MySQL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	table := fmt.Sprintf("ob_%d_%d", time.Now().UnixNano()%1e9, seq.Add(1))
	s, err := mysqlstore.New(db, mysqlstore.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Exec(fmt.Sprintf("DROP TABLE IF EXISTS %[1]s, %[1]s_dead, %[1]s_leases, %[1]s_relays, %[1]s_locks", table))
	})
	return s
}

func enqueue(ctx context.Context, store outbox.Store, msgs []outbox.Message, commit bool) error {
	s := store.(*mysqlstore.Store)
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
	return tx.Commit()
}

func TestSuite(t *testing.T) {
	storetest.Run(t, storetest.Harness{New: newStore, Enqueue: enqueue})
}

// TestEnqueueSerializesPartition: a transaction that enqueued into a partition holds it until it ends, so a
// second transaction writing the same key waits (its sequence number then follows the first's commit).
func TestEnqueueSerializesPartition(t *testing.T) {
	s := newStore(t).(*mysqlstore.Store)
	ctx := context.Background()
	first, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback()
	if err := s.Enqueue(ctx, first, outbox.Message{Topic: "t", Key: "k"}); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err = enqueue(waitCtx, s, []outbox.Message{{Topic: "t", Key: "k"}}, true)
	if err == nil {
		t.Fatal("a second transaction enqueued into a partition held by an open transaction")
	}
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := enqueue(ctx, s, []outbox.Message{{Topic: "t", Key: "k"}}, true); err != nil {
		t.Fatalf("after the first commit: %v", err)
	}
}
