package pgstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"go.uber.org/goleak"

	"github.com/sluice-go/sluice/internal/testsvc"
	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/internal/storetest"
	"github.com/sluice-go/sluice/outbox/pgstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var tableSeq atomic.Int64

// uniqueTable returns a table name no other test or run uses.
func uniqueTable() string {
	return fmt.Sprintf("ob_%d_%d", time.Now().UnixNano()%1e9, tableSeq.Add(1))
}

func newPool(t testing.TB, appName string) *pgxpool.Pool {
	t.Helper()
	dsn := testsvc.Postgres(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 8
	if appName != "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = appName
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func newStore(t testing.TB, pool *pgxpool.Pool, opts ...pgstore.Option) *pgstore.Store {
	t.Helper()
	return newStoreNamed(t, pool, uniqueTable(), opts...)
}

// newStoreNamed returns a migrated store on table, dropped when t ends.
func newStoreNamed(t testing.TB, pool *pgxpool.Pool, table string, opts ...pgstore.Option) *pgstore.Store {
	t.Helper()
	s, err := pgstore.New(pool, append([]pgstore.Option{pgstore.WithTable(table)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, err := pool.Exec(context.Background(), fmt.Sprintf("DROP TABLE IF EXISTS %[1]s, %[1]s_dead, %[1]s_leases, %[1]s_relays;"+
			" DROP FUNCTION IF EXISTS %[1]s_notify()", table))
		if err != nil {
			t.Errorf("dropping %s: %v", table, err)
		}
	})
	return s
}

func enqueue(ctx context.Context, store outbox.Store, msgs []outbox.Message, commit bool) error {
	s := store.(*pgstore.Store)
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		return err
	}
	if err := s.Enqueue(ctx, tx, msgs...); err != nil {
		tx.Rollback(ctx)
		return err
	}
	if !commit {
		return tx.Rollback(ctx)
	}
	return tx.Commit(ctx)
}

func TestSuite(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) outbox.Store {
			return newStore(t, newPool(t, ""))
		},
		Enqueue: enqueue,
	})
}

// TestCommitOrder: a transaction that got its sequence numbers first but commits last holds back the rows of
// transactions that committed after it started, so the relay never skips it and publishes in (xid, seq) order.
func TestCommitOrder(t *testing.T) {
	pool := newPool(t, "")
	s := newStore(t, pool)
	ctx := context.Background()
	leases, err := s.Lease(ctx, "r1", time.Now(), time.Minute)
	if err != nil || len(leases) != 16 {
		t.Fatalf("Lease = %v, %v", leases, err)
	}
	early, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Rollback(ctx)
	if err := s.Enqueue(ctx, early, outbox.Message{ID: "first", Topic: "t", Key: "k"}); err != nil {
		t.Fatal(err)
	}
	if err := enqueue(ctx, s, []outbox.Message{{ID: "second", Topic: "t", Key: "k"}, {ID: "other", Topic: "t", Key: "j"}}, true); err != nil {
		t.Fatal(err)
	}
	claimIDs := func() string {
		recs, _, err := s.Claim(ctx, leases, time.Now(), nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		return strings.Join(ids, ",")
	}
	if got := claimIDs(); got != "" {
		t.Fatalf("claimed %q while an earlier transaction is open, want nothing", got)
	}
	if err := early.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Transactions of other sessions on the server can hold the watermark back a little longer.
	for deadline := time.Now().Add(10 * time.Second); ; {
		got := claimIDs()
		if got == "first,second,other" {
			break
		}
		if got != "" || time.Now().After(deadline) {
			t.Fatalf("claimed %q, want first,second,other", got)
		}
		time.Sleep(5 * time.Millisecond) // waiting for other sessions' transactions to end
	}
}

// noPolling are relay options that keep the poll interval and lease renewal (a third of the TTL) beyond the
// tests' deadlines. A relay that just went idle still looks again after 1ms, 2ms, 4ms, ..., so these tests
// cannot tell a wake-up from that; TestWake checks the notifications themselves.
func noPolling(extra ...outbox.Option) []outbox.Option {
	return append([]outbox.Option{outbox.WithPollInterval(time.Hour), outbox.WithLeaseTTL(3 * time.Hour),
		outbox.WithBackoff(10*time.Millisecond, 100*time.Millisecond)}, extra...)
}

// runIdleRelay starts one relay on s under noPolling and returns once its first round (lease, stats) is done
// and it waits.
func runIdleRelay(t *testing.T, s *pgstore.Store, b *storetest.Broker, extra ...outbox.Option) {
	t.Helper()
	var stats atomic.Int64
	storetest.RunRelays(t, s, b.Publisher(), 1, noPolling(append(extra, outbox.WithHook(func(ev outbox.Event) {
		if ev.Kind == outbox.EventStats {
			stats.Add(1)
		}
	}))...)...)
	storetest.Until(t, 30*time.Second, "the relay's first round", func() bool { return stats.Load() > 0 })
}

// TestWakeOnCommit: a relay waiting for work publishes what is committed.
func TestWakeOnCommit(t *testing.T) {
	pool := newPool(t, "")
	s := newStore(t, pool)
	b := storetest.NewBroker()
	runIdleRelay(t, s, b)
	// No wait for LISTEN: a commit before it is covered by the wake-up the listener sends once listening.
	msgs := storetest.Messages(t.Name(), 3, 2)
	if err := enqueue(context.Background(), s, msgs, true); err != nil {
		t.Fatal(err)
	}
	b.WaitFor(t, 3, 30*time.Second)
}

// droppableStore returns a store whose connections carry the application name app, so that admin, a pool of
// its own, can terminate them.
func droppableStore(t *testing.T) (app string, admin *pgxpool.Pool, s *pgstore.Store) {
	t.Helper()
	app = uniqueTable()
	return app, newPool(t, ""), newStore(t, newPool(t, app))
}

// TestWakeAfterListenerDropped: the listening connection is terminated; the relay reports it, listens again
// on a new connection and keeps publishing.
func TestWakeAfterListenerDropped(t *testing.T) {
	app, admin, s := droppableStore(t)
	b := storetest.NewBroker()
	var listenerErrs atomic.Int64
	runIdleRelay(t, s, b, outbox.WithHook(func(ev outbox.Event) {
		if ev.Kind == outbox.EventError && strings.Contains(ev.Err.Error(), "wake-up listener") {
			listenerErrs.Add(1)
		}
	}))
	listening := func() bool {
		var n int
		if err := admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"+
			" AND query LIKE 'LISTEN %'", app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	storetest.Until(t, 30*time.Second, "the listener", listening)
	if _, err := admin.Exec(context.Background(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"+
		" WHERE application_name = $1 AND query LIKE 'LISTEN %'", app); err != nil {
		t.Fatal(err)
	}
	storetest.Until(t, 30*time.Second, "the listener's failure to be reported", func() bool { return listenerErrs.Load() > 0 })
	storetest.Until(t, 30*time.Second, "a new listener", listening)
	msgs := storetest.Messages(t.Name(), 3, 2)
	for i := range msgs {
		if err := enqueue(context.Background(), s, msgs[i:i+1], true); err != nil {
			t.Fatal(err)
		}
		b.WaitFor(t, i+1, 30*time.Second)
	}
}

// TestConnectionDropped: every connection of the relay's pool is terminated several times mid-run; the relay
// reconnects and delivers everything in order.
func TestConnectionDropped(t *testing.T) {
	app, admin, s := droppableStore(t)
	b := storetest.NewBroker()
	msgs := storetest.Messages(t.Name(), 2000, 11)
	for i := 0; i < len(msgs); i += 100 {
		if err := enqueue(context.Background(), s, msgs[i:i+100], true); err != nil {
			t.Fatal(err)
		}
	}
	var errs atomic.Int64
	storetest.RunRelays(t, s, b.Publisher(), 2, outbox.WithBatchSize(50), outbox.WithPollInterval(20*time.Millisecond),
		outbox.WithLeaseTTL(time.Second), outbox.WithHook(func(ev outbox.Event) {
			if ev.Kind == outbox.EventError {
				errs.Add(1)
			}
		}))
	for range 5 {
		if _, err := admin.Exec(context.Background(),
			"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", app); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond) // spread the drops over the run
	}
	b.WaitFor(t, len(msgs), 60*time.Second)
	got, _ := b.Accepted()
	storetest.CheckOrder(t, got, msgs)
	t.Logf("store errors seen and recovered from: %d", errs.Load())
}

func TestEnqueueSQLAndInboxes(t *testing.T) {
	pool := newPool(t, "")
	s := newStore(t, pool)
	ctx := context.Background()
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []outbox.Message{{Topic: "t", Key: "a", Payload: []byte("x"), Headers: map[string]string{"h": "v"}}, {Topic: "t"}}
	if err := s.EnqueueSQL(ctx, tx, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	leases, _ := s.Lease(ctx, "r", time.Now(), time.Minute)
	recs, _, err := s.Claim(ctx, leases, time.Now(), nil, 10)
	if err != nil || len(recs) != 2 || recs[0].Headers["h"] != "v" || string(recs[0].Payload) != "x" || recs[0].ID == "" {
		t.Fatalf("Claim = %+v, %v", recs, err)
	}

	table := uniqueTable() + "_inbox"
	t.Cleanup(func() { pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })
	in, err := pgstore.NewInbox(table, "billing", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	calls := 0
	handle := func(context.Context) error { calls++; return nil }
	for i, want := range []error{nil, outbox.ErrDuplicate} {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return in.Process(ctx, tx, "m1", handle) })
		if !errors.Is(err, want) {
			t.Fatalf("Process #%d = %v, want %v", i, err, want)
		}
	}
	// A failed handler rolls the record back, so the message is processed again.
	boom := errors.New("boom")
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return in.Process(ctx, tx, "m2", func(context.Context) error { return boom })
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return in.Process(ctx, tx, "m2", handle) }); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Fatalf("handler ran %d times, want 2", calls)
	}
	// The database/sql inbox shares the table layout and sees the same records.
	sqlIn, err := outbox.NewInbox(outbox.Postgres, table, "billing")
	if err != nil {
		t.Fatal(err)
	}
	stx, _ := db.BeginTx(ctx, nil)
	if err := sqlIn.Process(ctx, stx, "m1", func(context.Context) error { return nil }); !errors.Is(err, outbox.ErrDuplicate) {
		t.Fatalf("sql inbox Process = %v, want ErrDuplicate", err)
	}
	stx.Rollback()
	if n, err := in.Cleanup(ctx, pool, -time.Hour, 1); n != 2 || err != nil {
		t.Fatalf("Cleanup = %d, %v; want 2", n, err)
	}
	var _ *sql.DB = db
}

func TestNewValidates(t *testing.T) {
	pool := newPool(t, "")
	for _, tc := range []struct {
		opt  pgstore.Option
		want string
	}{
		{pgstore.WithTable(`x"; DROP TABLE y; --`), `pgstore: WithTable: name must be an identifier of at most 50 bytes, got "x\"; DROP TABLE y; --"`},
		{pgstore.WithTable(strings.Repeat("a", 51)), `pgstore: WithTable: name must be an identifier of at most 50 bytes, got "` + strings.Repeat("a", 51) + `"`},
		{pgstore.WithPartitions(5000), "pgstore: WithPartitions: partitions must be in [1, 4096], got 5000"},
	} {
		if _, err := pgstore.New(pool, tc.opt); err == nil || err.Error() != tc.want {
			t.Errorf("New: %v, want %q", err, tc.want)
		}
	}
}

// TestWake: Store.Wake signals once it listens, then after each commit, whatever the case of the table's
// name (PostgreSQL folds an unquoted name to lower case, the trigger notifies on the name as given).
func TestWake(t *testing.T) {
	for _, prefix := range []string{"ob_", "Ob_"} {
		t.Run(prefix, func(t *testing.T) { testWake(t, newStoreNamed(t, newPool(t, ""), prefix+uniqueTable())) })
	}
}

func testWake(t *testing.T, s *pgstore.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	wake := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() { done <- s.Wake(ctx, wake) }()
	defer func() { cancel(); <-done }()
	select {
	case <-wake: // listening now
	case err := <-done:
		t.Fatalf("Wake = %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Wake did not start listening within 30s")
	}
	for i, m := range storetest.Messages(t.Name(), 2, 1) {
		if err := enqueue(context.Background(), s, []outbox.Message{m}, true); err != nil {
			t.Fatal(err)
		}
		select {
		case <-wake:
		case err := <-done:
			t.Fatalf("Wake = %v", err)
		case <-time.After(30 * time.Second):
			t.Fatalf("no wake-up within 30s of commit %d", i)
		}
	}
}
