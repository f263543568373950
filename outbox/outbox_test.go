package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/google/uuid"

	"github.com/sluice-go/sluice/ctxutil"
	"github.com/sluice-go/sluice/internal/testsvc"
	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/internal/storetest"
	"github.com/sluice-go/sluice/outbox/sqlitestore"
)

func newSQLite(t *testing.T) *sqlitestore.Store { return storetest.NewSQLite(t) }

// receive returns the next value of ch, failing t when none comes within a generous deadline.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out after 30s waiting for %s", what)
		panic("unreachable")
	}
}

var nopPub = outbox.PublisherFunc(func(context.Context, outbox.Message) error { return nil })

func TestNewRelayValidates(t *testing.T) {
	store := newSQLite(t)
	for _, tc := range []struct {
		opt  outbox.Option
		want string
	}{
		{outbox.WithBatchSize(0), "outbox: WithBatchSize: size must be >= 1, got 0"},
		{outbox.WithPollInterval(0), "outbox: WithPollInterval: interval must be > 0, got 0s"},
		{outbox.WithMaxAttempts(0), "outbox: WithMaxAttempts: attempts must be >= 1, got 0"},
		{outbox.WithBackoff(time.Second, time.Millisecond), "outbox: WithBackoff: need 0 < min <= max, got min 1s max 1ms"},
		{outbox.WithDeadLetterPolicy(7), "outbox: WithDeadLetterPolicy: unknown policy, got 7"},
		{outbox.WithRetention(-time.Second, 10), "outbox: WithRetention: retention must be >= 0, got -1s"},
		{outbox.WithRetention(time.Second, 0), "outbox: WithRetention: purge batch must be >= 1, got 0"},
		{outbox.WithLeaseTTL(time.Millisecond), "outbox: WithLeaseTTL: ttl must be >= 10ms, got 1ms"},
		{outbox.WithStatsInterval(0), "outbox: WithStatsInterval: interval must be > 0, got 0s"},
		{outbox.WithLogger(nil), "outbox: WithLogger: logger must not be nil, got nil"},
	} {
		if _, err := outbox.NewRelay(store, nopPub, tc.opt); err == nil || err.Error() != tc.want {
			t.Errorf("NewRelay: %v, want %q", err, tc.want)
		}
	}
	if _, err := outbox.NewRelay(nil, nopPub); err == nil {
		t.Error("NewRelay(nil store) succeeded")
	}
	if _, err := outbox.NewRelay(store, nil); err == nil {
		t.Error("NewRelay(nil publisher) succeeded")
	}
}

func TestRunTwice(t *testing.T) {
	running := make(chan struct{}, 1)
	r, err := outbox.NewRelay(newSQLite(t), nopPub, outbox.WithHook(func(outbox.Event) {
		select {
		case running <- struct{}{}:
		default:
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	receive(t, running, "the first round (it reports the backlog)")
	if err := r.Run(ctx); !errors.Is(err, outbox.ErrRunning) {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil after ctx ended", err)
	}
}

func TestRetryHorizon(t *testing.T) {
	r, err := outbox.NewRelay(newSQLite(t), nopPub, outbox.WithMaxAttempts(4), outbox.WithBackoff(time.Second, 3*time.Second),
		outbox.WithLeaseTTL(10*time.Second), outbox.WithPollInterval(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// Retries after attempts 1..3 wait at most 1s, 2s, 3s; plus lease 10s and poll 1s.
	if got, want := r.RetryHorizon(), 17*time.Second; got != want {
		t.Fatalf("RetryHorizon = %s, want %s", got, want)
	}
}

func TestPrepare(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var ids []string
	for range 100 {
		m := outbox.Message{Topic: "t"}
		outbox.Prepare(context.Background(), &m, now)
		u, err := uuid.Parse(m.ID)
		if err != nil || u.Version() != 7 {
			t.Fatalf("ID %q is not a UUIDv7: %v", m.ID, err)
		}
		if !m.CreatedAt.Equal(now) {
			t.Fatalf("CreatedAt = %s", m.CreatedAt)
		}
		ids = append(ids, m.ID)
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("generated IDs are not time-ordered")
	}
	m := outbox.Message{ID: "mine", CreatedAt: now.Add(time.Hour)}
	outbox.Prepare(context.Background(), &m, now)
	if m.ID != "mine" || !m.CreatedAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("Prepare overwrote caller's fields: %+v", m)
	}
}

func TestPartition(t *testing.T) {
	counts := make([]int, 16)
	for i := range 16000 {
		key := fmt.Sprintf("key-%d", i)
		p := outbox.Partition(key, "ignored", 16)
		if p != outbox.Partition(key, "other", 16) {
			t.Fatal("a key's partition depends on the ID")
		}
		counts[p]++
	}
	for p, n := range counts {
		if n < 800 || n > 1200 {
			t.Errorf("partition %d got %d of 16000 keys; want about 1000", p, n)
		}
	}
	if outbox.Partition("", "a", 1) != 0 {
		t.Fatal("one partition must be 0")
	}
}

func TestPublisherFuncs(t *testing.T) {
	boom := errors.New("boom")
	fail := func(ctx context.Context, m outbox.Message) error {
		if m.Key == "bad" {
			return boom
		}
		return nil
	}
	msgs := []outbox.Message{{Key: "a"}, {Key: "bad"}, {Key: "c"}}
	for name, p := range map[string]outbox.Publisher{
		"serial":     outbox.PublisherFunc(fail),
		"concurrent": outbox.ConcurrentPublisherFunc(fail),
	} {
		errs := p.Publish(context.Background(), msgs)
		if len(errs) != 3 || errs[0] != nil || !errors.Is(errs[1], boom) || errs[2] != nil {
			t.Errorf("%s: errs = %v", name, errs)
		}
		if errs := p.Publish(context.Background(), msgs[:1]); errs != nil {
			t.Errorf("%s: all acknowledged but errs = %v", name, errs)
		}
	}
}

func TestValidIdent(t *testing.T) {
	for name, ok := range map[string]bool{"outbox": true, "_x1": true, "1x": false, "a b": false, "a;b": false, "": false,
		"a\"b": false, "schema.table": false} {
		if err := outbox.ValidIdent(name); (err == nil) != ok || (err != nil && !errors.Is(err, outbox.ErrInvalidName)) {
			t.Errorf("ValidIdent(%q) = %v", name, err)
		}
	}
}

func FuzzValidIdent(f *testing.F) {
	for _, s := range []string{"outbox", "a b", "x;DROP", "ünï"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if outbox.ValidIdent(s) != nil {
			return
		}
		for _, r := range s {
			if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				t.Fatalf("accepted %q with %q", s, r)
			}
		}
	})
}

func TestInboxSQLite(t *testing.T) {
	store := newSQLite(t)
	db := store.DB()
	ctx := context.Background()
	now := time.Unix(1000, 0)
	in, err := outbox.NewInbox(outbox.SQLite, "inbox", "mailer", outbox.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	calls := 0
	process := func(id string, fail error) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = in.Process(ctx, tx, id, func(context.Context) error { calls++; return fail })
		if err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	}
	boom := errors.New("boom")
	for i, tc := range []struct {
		id        string
		fail, err error
		calls     int
	}{
		{"a", nil, nil, 1},
		{"a", nil, outbox.ErrDuplicate, 1},
		{"b", boom, boom, 2},
		{"b", nil, nil, 3},
		{"b", nil, outbox.ErrDuplicate, 3},
	} {
		if err := process(tc.id, tc.fail); !errors.Is(err, tc.err) || calls != tc.calls {
			t.Fatalf("step %d: Process(%s) = %v with %d calls, want %v with %d", i, tc.id, err, calls, tc.err, tc.calls)
		}
	}
	now = now.Add(time.Hour)
	if n, err := in.Cleanup(ctx, db, 30*time.Minute, 1); n != 2 || err != nil {
		t.Fatalf("Cleanup = %d, %v; want 2", n, err)
	}
	if err := process("a", nil); err != nil {
		t.Fatalf("after expiry Process = %v, want processed again", err)
	}
	// An entry younger than the window stays and still de-duplicates.
	now = now.Add(29 * time.Minute)
	if n, err := in.Cleanup(ctx, db, 30*time.Minute, 1); n != 0 || err != nil {
		t.Fatalf("Cleanup within the window = %d, %v; want 0", n, err)
	}
	if err := process("a", nil); !errors.Is(err, outbox.ErrDuplicate) {
		t.Fatalf("Process within the window = %v, want ErrDuplicate", err)
	}
	if _, err := outbox.NewInbox(outbox.SQLite, "bad name", "x"); !errors.Is(err, outbox.ErrInvalidName) {
		t.Fatalf("NewInbox(bad name) = %v", err)
	}
	if _, err := outbox.NewInbox(outbox.SQLite, "inbox", ""); err == nil {
		t.Fatal("NewInbox with empty consumer succeeded")
	}
}

func TestCaptureHeaders(t *testing.T) {
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := ctxutil.WithTraceContext(ctxutil.WithRequestID(context.Background(), "req-1"), tp, "k=v")
	mine := map[string]string{"X-Request-Id": "caller", "a": "b"}
	m := outbox.Message{Headers: mine}
	outbox.CaptureHeaders(ctx, &m)
	want := map[string]string{"X-Request-Id": "caller", "a": "b", "traceparent": tp, "tracestate": "k=v"}
	if fmt.Sprint(m.Headers) != fmt.Sprint(want) {
		t.Fatalf("headers = %v, want %v", m.Headers, want)
	}
	if len(mine) != 2 {
		t.Fatalf("caller's map was modified: %v", mine)
	}
	var empty outbox.Message
	outbox.CaptureHeaders(context.Background(), &empty)
	if empty.Headers != nil {
		t.Fatalf("headers without trace context = %v, want nil", empty.Headers)
	}
}

func TestInboxMySQL(t *testing.T) {
	dsn := testsvc.MySQL(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	table := fmt.Sprintf("inbox_%d", time.Now().UnixNano()%1e9)
	in, err := outbox.NewInbox(outbox.MySQL, table, "mailer")
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	defer db.Exec("DROP TABLE " + table)
	for i, want := range []error{nil, outbox.ErrDuplicate} {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = in.Process(ctx, tx, "m1", func(context.Context) error { return nil })
		if !errors.Is(err, want) {
			t.Fatalf("Process #%d = %v, want %v", i, err, want)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	// IDs longer than the column are refused: INSERT IGNORE would truncate them, and two IDs sharing their
	// first 191 characters would then count as one, skipping the second message.
	long := strings.Repeat("x", 191)
	for _, id := range []string{long + "-a", long + "-b"} {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		called := false
		err = in.Process(ctx, tx, id, func(context.Context) error { called = true; return nil })
		tx.Rollback()
		if err == nil || errors.Is(err, outbox.ErrDuplicate) || called {
			t.Fatalf("Process(%d-character id) = %v, called %v; want an error", len(id), err, called)
		}
	}
	if _, err := outbox.NewInbox(outbox.MySQL, table, long+"-consumer"); err == nil {
		t.Fatal("NewInbox with a consumer name longer than the column succeeded")
	}
	if n, err := in.Cleanup(ctx, db, -time.Hour, 10); n != 1 || err != nil {
		t.Fatalf("Cleanup = %d, %v; want 1", n, err)
	}
}

// TestPublisherWrongResultCount: a publisher returning the wrong number of results fails the whole call
// instead of crashing the relay or completing unacknowledged messages.
func TestPublisherWrongResultCount(t *testing.T) {
	store := newSQLite(t)
	storetest.EnqueueSQLite(t, store, storetest.Messages(t.Name(), 3, 3))
	bad := publisherFunc(func(ctx context.Context, msgs []outbox.Message) []error { return []error{nil} })
	dead := make(chan outbox.Event, 3)
	r, err := outbox.NewRelay(store, bad, outbox.WithMaxAttempts(1), outbox.WithPollInterval(10*time.Millisecond),
		outbox.WithHook(func(ev outbox.Event) {
			if ev.Kind == outbox.EventDeadLettered {
				dead <- ev
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	for range 3 {
		ev := receive(t, dead, "a dead letter")
		if ev.Err == nil || !strings.Contains(ev.Err.Error(), "returned 1 results for 3 messages") {
			t.Fatalf("dead letter error = %v", ev.Err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type publisherFunc func(context.Context, []outbox.Message) []error

func (f publisherFunc) Publish(ctx context.Context, msgs []outbox.Message) []error {
	return f(ctx, msgs)
}

// TestRunStopsWithHungBroker: a publisher that never answers holds Run for at most the lease TTL after ctx ends.
func TestRunStopsWithHungBroker(t *testing.T) {
	store := newSQLite(t)
	storetest.EnqueueSQLite(t, store, storetest.Messages(t.Name(), 1, 1))
	publishing := make(chan struct{}, 1)
	hung := outbox.PublisherFunc(func(ctx context.Context, m outbox.Message) error {
		publishing <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	})
	r, err := outbox.NewRelay(store, hung, outbox.WithLeaseTTL(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	receive(t, publishing, "a publish")
	cancel()
	if err := receive(t, done, "Run to return after the lease TTL"); err != nil {
		t.Fatal(err)
	}
}

// TestRunFinishesBatchOnShutdown: when ctx ends while a batch is being published, Run lets the publisher
// finish on a live context and completes what the broker acknowledged before it returns.
func TestRunFinishesBatchOnShutdown(t *testing.T) {
	store := newSQLite(t)
	msgs := storetest.Messages(t.Name(), 5, 5)
	storetest.EnqueueSQLite(t, store, msgs)
	publishing, release := make(chan struct{}), make(chan struct{})
	var pubErr error
	slow := publisherFunc(func(ctx context.Context, batch []outbox.Message) []error {
		close(publishing)
		<-release
		pubErr = ctx.Err()
		return nil
	})
	r, err := outbox.NewRelay(store, slow, outbox.WithLeaseTTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	receive(t, publishing, "a batch")
	cancel()
	close(release)
	if err := receive(t, done, "Run to return"); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if pubErr != nil {
		t.Fatalf("the in-flight batch was published on a context that ended: %v", pubErr)
	}
	if st, err := store.Stats(context.Background()); err != nil || st.Pending != 0 {
		t.Fatalf("Stats = %+v, %v; want the in-flight batch completed", st, err)
	}
}

// TestRetentionCatchesUp: when more published rows are due than one purge round deletes, the relay goes on
// purging in the next rounds instead of waiting retention/10, so the table cannot grow without end.
func TestRetentionCatchesUp(t *testing.T) {
	store := newSQLite(t)
	msgs := storetest.Messages(t.Name(), 100, 7)
	storetest.EnqueueSQLite(t, store, msgs)
	var offset atomic.Int64 // the fake clock runs with the real one, plus jumps
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	var published, purged atomic.Int64
	r, err := outbox.NewRelay(store, nopPub, outbox.WithClock(now), outbox.WithPollInterval(20*time.Millisecond),
		outbox.WithRetention(time.Hour, 1), outbox.WithHook(func(ev outbox.Event) {
			switch ev.Kind {
			case outbox.EventPublished:
				published.Add(int64(ev.Count))
			case outbox.EventPurged:
				purged.Add(int64(ev.Count))
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	storetest.Until(t, 30*time.Second, "publishing", func() bool { return published.Load() == int64(len(msgs)) })
	offset.Store(int64(2 * time.Hour)) // every message is now past its retention
	storetest.Until(t, 30*time.Second, "purging every published row", func() bool { return purged.Load() == int64(len(msgs)) })
}

// failingRenewal is a store whose Lease works once and then fails, recording whether Release was called.
type failingRenewal struct {
	outbox.Store
	leases   atomic.Int64
	released atomic.Bool
}

func (f *failingRenewal) Lease(ctx context.Context, owner string, now time.Time, ttl time.Duration) ([]outbox.Lease, error) {
	if f.leases.Add(1) > 1 {
		return nil, errors.New("database unavailable")
	}
	return f.Store.Lease(ctx, owner, now, ttl)
}

func (f *failingRenewal) Release(ctx context.Context, owner string) error {
	f.released.Store(true)
	return f.Store.Release(ctx, owner)
}

// TestRunReleasesAfterFailedRenewal: a relay whose last lease renewal failed still releases its partitions
// when it stops, since the store may hold the leases of the renewal before.
func TestRunReleasesAfterFailedRenewal(t *testing.T) {
	store := &failingRenewal{Store: newSQLite(t)}
	r, err := outbox.NewRelay(store, nopPub, outbox.WithPollInterval(10*time.Millisecond), outbox.WithLeaseTTL(30*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	storetest.Until(t, 30*time.Second, "a failed renewal", func() bool { return store.leases.Load() > 2 })
	cancel()
	if err := receive(t, done, "Run to return"); err != nil {
		t.Fatal(err)
	}
	if !store.released.Load() {
		t.Fatal("Release was not called")
	}
}
