// Package storetest is the conformance and fault suite every outbox store passes: delivery, per-key order with
// several relays, rolled-back transactions, poison messages, broker outages, relay crashes and brokers slower
// than the lease.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice/ctxutil"
	"github.com/sluice-go/sluice/outbox"
)

// Harness adapts a store to the suite.
type Harness struct {
	// New returns a fresh store with its tables migrated, unique to t.
	New func(t *testing.T) outbox.Store
	// Enqueue writes msgs in one transaction of store, committing it or rolling it back.
	Enqueue func(ctx context.Context, store outbox.Store, msgs []outbox.Message, commit bool) error
}

// Broker is an in-memory broker with de-duplication by message ID, recording what it accepted in order.
type Broker struct {
	mu       sync.Mutex
	seen     map[string]bool
	accepted []outbox.Message // after de-duplication
	dups     int
	fail     func(m outbox.Message) error
	calls    atomic.Int64
	notify   chan struct{}
}

// NewBroker returns an empty broker.
func NewBroker() *Broker { return &Broker{seen: map[string]bool{}, notify: make(chan struct{}, 1)} }

// SetFail makes the broker refuse messages for which f returns an error (nil f accepts all).
func (b *Broker) SetFail(f func(m outbox.Message) error) {
	b.mu.Lock()
	b.fail = f
	b.mu.Unlock()
}

// Publisher returns the broker as an [outbox.Publisher] that publishes each call concurrently.
func (b *Broker) Publisher() outbox.Publisher {
	return outbox.ConcurrentPublisherFunc(func(ctx context.Context, m outbox.Message) error {
		b.calls.Add(1)
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.fail != nil {
			if err := b.fail(m); err != nil {
				return err
			}
		}
		if b.seen[m.ID] {
			b.dups++
			return nil
		}
		b.seen[m.ID] = true
		b.accepted = append(b.accepted, m)
		select {
		case b.notify <- struct{}{}:
		default:
		}
		return nil
	})
}

// Accepted returns the de-duplicated messages in acceptance order and the number of duplicates dropped.
func (b *Broker) Accepted() ([]outbox.Message, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]outbox.Message(nil), b.accepted...), b.dups
}

// WaitFor waits until the broker accepted n distinct messages, failing t after timeout.
func (b *Broker) WaitFor(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		got := len(b.accepted)
		b.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-b.notify:
		case <-deadline.C:
			t.Fatalf("broker accepted %d of %d messages within %s", got, n, timeout)
		}
	}
}

// CheckOrder fails t unless the accepted messages hold exactly want's IDs and, per key, in want's order.
func CheckOrder(t *testing.T, accepted, want []outbox.Message) {
	t.Helper()
	pos := map[string]int{}
	for i, m := range want {
		pos[m.ID] = i
	}
	last := map[string]int{}
	got := map[string]bool{}
	for _, m := range accepted {
		p, ok := pos[m.ID]
		if !ok {
			t.Fatalf("unexpected message %s", m.ID)
		}
		got[m.ID] = true
		if m.Key != "" {
			if q, ok := last[m.Key]; ok && q > p {
				t.Fatalf("key %s: message %d published after message %d", m.Key, p, q)
			}
			last[m.Key] = p
		}
	}
	if len(got) != len(want) {
		t.Fatalf("published %d distinct messages, want %d", len(got), len(want))
	}
}

// Messages returns n messages over keys keys, numbered in the order they will be enqueued.
func Messages(prefix string, n, keys int) []outbox.Message {
	msgs := make([]outbox.Message, n)
	for i := range msgs {
		msgs[i] = outbox.Message{
			ID:      fmt.Sprintf("%s-%06d", prefix, i),
			Topic:   "orders",
			Key:     fmt.Sprintf("k%d", i%keys),
			Payload: []byte(fmt.Sprintf(`{"n":%d}`, i)),
			Headers: map[string]string{"n": fmt.Sprint(i)},
		}
	}
	return msgs
}

// enqueueAll writes msgs in transactions of size per, from several goroutines per key group, keeping each
// key's messages in one goroutine so that their commit order is the slice order.
func (h Harness) enqueueAll(t *testing.T, store outbox.Store, msgs []outbox.Message, per int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < len(msgs); i += per {
		if err := h.Enqueue(ctx, store, msgs[i:min(i+per, len(msgs))], true); err != nil {
			t.Fatalf("enqueue: %v", err)
		}
	}
}

// RunRelays starts n relays on store and returns a function stopping them and reporting Run's errors.
func RunRelays(t *testing.T, store outbox.Store, pub outbox.Publisher, n int, opts ...outbox.Option) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range n {
		r, err := outbox.NewRelay(store, pub, opts...)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := r.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// patience bounds every wait of the suite: far above what a run needs, so that a loaded CI machine (the whole
// repository under -race on two cores) fails only when something is really stuck.
const patience = 30 * time.Second

// fast are relay options for tests: short polls, leases and backoff.
func fast(extra ...outbox.Option) []outbox.Option {
	return append([]outbox.Option{
		outbox.WithPollInterval(20 * time.Millisecond), outbox.WithLeaseTTL(600 * time.Millisecond),
		outbox.WithBackoff(5*time.Millisecond, 40*time.Millisecond), outbox.WithBatchSize(64),
	}, extra...)
}

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	t.Run("Delivery", func(t *testing.T) { t.Parallel(); testDelivery(t, h, 1) })
	t.Run("TwoRelays", func(t *testing.T) { t.Parallel(); testDelivery(t, h, 2) })
	t.Run("FourRelays", func(t *testing.T) { t.Parallel(); testDelivery(t, h, 4) })
	t.Run("RolledBack", func(t *testing.T) { t.Parallel(); testRolledBack(t, h) })
	t.Run("PoisonParked", func(t *testing.T) { t.Parallel(); testPoison(t, h, outbox.ParkKey) })
	t.Run("PoisonSkipToNext", func(t *testing.T) { t.Parallel(); testPoison(t, h, outbox.SkipToNext) })
	t.Run("BrokerOutage", func(t *testing.T) { t.Parallel(); testBrokerOutage(t, h) })
	t.Run("RelayCrash", func(t *testing.T) { t.Parallel(); testRelayCrash(t, h) })
	t.Run("Retention", func(t *testing.T) { t.Parallel(); testRetention(t, h) })
	t.Run("Hooks", func(t *testing.T) { t.Parallel(); testHooks(t, h) })
	t.Run("TraceHeaders", func(t *testing.T) { t.Parallel(); testTraceHeaders(t, h) })
	t.Run("LeaseShare", func(t *testing.T) { t.Parallel(); testLeaseShare(t, h) })
	t.Run("Fencing", func(t *testing.T) { t.Parallel(); testFencing(t, h) })
	t.Run("LeaseDeadline", func(t *testing.T) { t.Parallel(); testLeaseDeadline(t, h) })
}

func testDelivery(t *testing.T, h Harness, relays int) {
	store := h.New(t)
	b := NewBroker()
	msgs := Messages(t.Name(), 600, 13)
	// Half before the relays start (a backlog), half while they run.
	h.enqueueAll(t, store, msgs[:300], 25)
	RunRelays(t, store, b.Publisher(), relays, fast()...)
	h.enqueueAll(t, store, msgs[300:], 10)
	b.WaitFor(t, len(msgs), patience)
	got, _ := b.Accepted()
	CheckOrder(t, got, msgs)
	waitPending(t, store, 0)
}

// Until polls cond every few milliseconds until it holds, failing t with what when timeout passes first. It is
// for state nothing signals (counters set by hooks, a crash point); the timeout is generous, for loaded CI.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // polling state that nothing signals
	}
}

func waitPending(t *testing.T, store outbox.Store, want int64) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		st, err := store.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Pending == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pending = %d, want %d", st.Pending, want)
		}
		time.Sleep(10 * time.Millisecond) // polling the store's own state; nothing to wait on
	}
}

func testRolledBack(t *testing.T, h Harness) {
	store := h.New(t)
	b := NewBroker()
	ctx := context.Background()
	rolled := Messages(t.Name()+"-rb", 20, 3)
	kept := Messages(t.Name()+"-ok", 5, 3)
	if err := h.Enqueue(ctx, store, rolled, false); err != nil {
		t.Fatal(err)
	}
	if err := h.Enqueue(ctx, store, kept, true); err != nil {
		t.Fatal(err)
	}
	RunRelays(t, store, b.Publisher(), 1, fast()...)
	b.WaitFor(t, len(kept), patience)
	waitPending(t, store, 0)
	got, _ := b.Accepted()
	CheckOrder(t, got, kept)
}

func testPoison(t *testing.T, h Harness, policy outbox.DeadLetterPolicy) {
	store := h.New(t)
	b := NewBroker()
	msgs := Messages(t.Name(), 300, 6) // key k0 holds messages 0, 6, 12, ...; batches of 64 are prefetched
	poison := msgs[12].ID
	b.SetFail(func(m outbox.Message) error {
		if m.ID == poison {
			return errors.New("poison")
		}
		return nil
	})
	var dead atomic.Int64
	h.enqueueAll(t, store, msgs, 10)
	stop := RunRelays(t, store, b.Publisher(), 1, fast(outbox.WithMaxAttempts(3), outbox.WithDeadLetterPolicy(policy),
		outbox.WithHook(func(ev outbox.Event) {
			if ev.Kind == outbox.EventDeadLettered {
				dead.Add(1)
			}
		}))...)
	var want []outbox.Message
	for i, m := range msgs {
		if m.ID == poison || (policy == outbox.ParkKey && m.Key == "k0" && i > 12) {
			continue
		}
		want = append(want, m)
	}
	b.WaitFor(t, len(want), patience)
	waitPending(t, store, int64(len(msgs)-len(want)-1))
	stop()
	got, _ := b.Accepted()
	CheckOrder(t, got, want)
	if dead.Load() != 1 {
		t.Fatalf("dead-lettered %d messages, want 1", dead.Load())
	}
	dl := store.(outbox.DeadLetters)
	list, err := dl.ListDeadLetters(context.Background(), "", 10)
	if err != nil || len(list) != 1 || list[0].ID != poison || list[0].LastError != "poison" || list[0].Attempts != 3 {
		t.Fatalf("dead letters = %+v, %v", list, err)
	}
	// Fixed: replay it, and with ParkKey the parked key resumes in order behind it.
	b.SetFail(nil)
	if n, err := dl.Replay(context.Background(), poison); n != 1 || err != nil {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	RunRelays(t, store, b.Publisher(), 1, fast()...)
	b.WaitFor(t, len(msgs), patience)
	got, _ = b.Accepted()
	if policy == outbox.ParkKey {
		CheckOrder(t, got, msgs)
	}
	if list, _ := dl.ListDeadLetters(context.Background(), "", 10); len(list) != 0 {
		t.Fatalf("dead letters after replay: %v", list)
	}
}

func testBrokerOutage(t *testing.T, h Harness) {
	store := h.New(t)
	b := NewBroker()
	down := errors.New("broker unavailable")
	b.SetFail(func(outbox.Message) error { return down })
	msgs := Messages(t.Name(), 300, 7)
	var failed atomic.Int64
	RunRelays(t, store, b.Publisher(), 2, fast(outbox.WithMaxAttempts(1000), outbox.WithHook(func(ev outbox.Event) {
		if ev.Kind == outbox.EventFailed {
			failed.Add(1)
		}
	}))...)
	h.enqueueAll(t, store, msgs, 20)
	Until(t, patience, "the relays to hit the outage a few times", func() bool { return failed.Load() >= 20 })
	b.SetFail(nil)
	b.WaitFor(t, len(msgs), patience)
	got, _ := b.Accepted()
	CheckOrder(t, got, msgs)
	waitPending(t, store, 0)
}

// Crashing wraps a store so that, once killed, completing, leasing and releasing fail, like a relay process
// that died: what it published stays pending, and its leases stay until they expire.
type Crashing struct {
	outbox.Store
	dead atomic.Bool
}

// Kill makes every later completion, lease and release fail.
func (c *Crashing) Kill() { c.dead.Store(true) }

// Killed reports whether Kill was called.
func (c *Crashing) Killed() bool { return c.dead.Load() }

var errCrashed = errors.New("relay crashed")

func (c *Crashing) Complete(ctx context.Context, owner string, l []outbox.Lease, r []outbox.Record, now time.Time, keep bool) error {
	if c.dead.Load() {
		return errCrashed
	}
	return c.Store.Complete(ctx, owner, l, r, now, keep)
}

func (c *Crashing) Lease(ctx context.Context, owner string, now time.Time, ttl time.Duration) ([]outbox.Lease, error) {
	if c.dead.Load() {
		return nil, errCrashed
	}
	return c.Store.Lease(ctx, owner, now, ttl)
}

func (c *Crashing) Release(ctx context.Context, owner string) error {
	if c.dead.Load() {
		return errCrashed
	}
	return c.Store.Release(ctx, owner)
}

func testRelayCrash(t *testing.T, h Harness) {
	store := h.New(t)
	b := NewBroker()
	msgs := Messages(t.Name(), 400, 9)
	h.enqueueAll(t, store, msgs, 50)
	crashing := &Crashing{Store: store}
	// The first relay dies right after the broker acknowledged its second batch, before completing it.
	var calls atomic.Int64
	pub := b.Publisher()
	killer := outbox.ConcurrentPublisherFunc(func(ctx context.Context, m outbox.Message) error {
		err := pub.Publish(ctx, []outbox.Message{m})
		if calls.Add(1) == 100 {
			crashing.Kill()
		}
		if err != nil {
			return err[0]
		}
		return nil
	})
	stop1 := RunRelays(t, crashing, killer, 1, fast()...)
	Until(t, patience, "the crash point", crashing.Killed)
	stop1()
	RunRelays(t, store, b.Publisher(), 1, fast()...)
	b.WaitFor(t, len(msgs), patience)
	got, dups := b.Accepted()
	CheckOrder(t, got, msgs)
	if dups == 0 {
		t.Fatalf("expected duplicates after the crash point, removed by de-duplication; got none")
	}
	waitPending(t, store, 0)
}

func testRetention(t *testing.T, h Harness) {
	store := h.New(t)
	b := NewBroker()
	msgs := Messages(t.Name(), 50, 5)
	h.enqueueAll(t, store, msgs, 50)
	var purged atomic.Int64
	RunRelays(t, store, b.Publisher(), 1, fast(outbox.WithRetention(30*time.Millisecond, 7),
		outbox.WithHook(func(ev outbox.Event) {
			if ev.Kind == outbox.EventPurged {
				purged.Add(int64(ev.Count))
			}
		}))...)
	b.WaitFor(t, len(msgs), patience)
	deadline := time.Now().Add(patience)
	for purged.Load() < int64(len(msgs)) {
		if time.Now().After(deadline) {
			t.Fatalf("purged %d of %d", purged.Load(), len(msgs))
		}
		time.Sleep(10 * time.Millisecond) // retention runs on the relay's schedule
	}
	waitPending(t, store, 0)
}

func testHooks(t *testing.T, h Harness) {
	store := h.New(t)
	b := NewBroker()
	msgs := Messages(t.Name(), 30, 3)
	h.enqueueAll(t, store, msgs, 30)
	var published, batches atomic.Int64
	stats := make(chan outbox.Event, 100)
	RunRelays(t, store, b.Publisher(), 1, fast(outbox.WithStatsInterval(20*time.Millisecond),
		outbox.WithHook(func(ev outbox.Event) {
			switch ev.Kind {
			case outbox.EventPublished:
				published.Add(int64(ev.Count))
			case outbox.EventBatch:
				batches.Add(1)
			case outbox.EventStats:
				select {
				case stats <- ev:
				default:
				}
			}
		}))...)
	b.WaitFor(t, len(msgs), patience)
	var ev outbox.Event
	select {
	case ev = <-stats:
	case <-time.After(patience):
		t.Fatalf("no stats event within %s", patience)
	}
	if ev.Partitions == 0 {
		t.Fatalf("stats event without partitions: %+v", ev)
	}
	// The hook runs after completion.
	Until(t, patience, "published events", func() bool { return published.Load() >= int64(len(msgs)) })
	if batches.Load() == 0 {
		t.Fatal("no batch events")
	}
}

func testTraceHeaders(t *testing.T, h Harness) {
	store := h.New(t)
	b := NewBroker()
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := ctxutil.WithTraceContext(ctxutil.WithRequestID(context.Background(), "req-42"), tp, "")
	msgs := []outbox.Message{{Topic: "t", Key: "k", Headers: map[string]string{"own": "1"}}}
	if err := h.Enqueue(ctx, store, msgs, true); err != nil {
		t.Fatal(err)
	}
	RunRelays(t, store, b.Publisher(), 1, fast()...)
	b.WaitFor(t, 1, patience)
	got, _ := b.Accepted()
	want := map[string]string{"own": "1", ctxutil.HeaderRequestID: "req-42", ctxutil.HeaderTraceParent: tp}
	if fmt.Sprint(got[0].Headers) != fmt.Sprint(want) || got[0].ID == "" {
		t.Fatalf("published %+v, want headers %v and a generated ID", got[0], want)
	}
}

// testLeaseShare: four relays end up holding a quarter of the partitions each.
func testLeaseShare(t *testing.T, h Harness) {
	store := h.New(t)
	b := NewBroker()
	const relays = 4
	var held [relays]atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{}, relays)
	for i := range relays {
		r, err := outbox.NewRelay(store, b.Publisher(), fast(outbox.WithStatsInterval(10*time.Millisecond),
			outbox.WithHook(func(ev outbox.Event) {
				if ev.Kind == outbox.EventStats {
					held[i].Store(int64(ev.Partitions))
				}
			}))...)
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = r.Run(ctx); done <- struct{}{} }()
	}
	defer func() {
		cancel()
		for range relays {
			<-done
		}
	}()
	deadline := time.Now().Add(patience)
	for {
		fair := true
		for i := range relays {
			if held[i].Load() != 16/relays {
				fair = false
			}
		}
		if fair {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions held: %d %d %d %d, want 4 each", held[0].Load(), held[1].Load(), held[2].Load(), held[3].Load())
		}
		time.Sleep(10 * time.Millisecond) // rebalancing happens on the relays' lease rounds
	}
}

// testFencing: a relay whose lease expired and was taken over cannot complete the messages it claimed; they
// stay pending for the new owner.
func testFencing(t *testing.T, h Harness) {
	store := h.New(t)
	ctx := context.Background()
	msgs := Messages(t.Name(), 10, 1)
	if err := h.Enqueue(ctx, store, msgs, true); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	old, err := store.Lease(ctx, "old", t0, time.Second)
	if err != nil || len(old) == 0 {
		t.Fatalf("Lease(old) = %v, %v", old, err)
	}
	// On PostgreSQL rows become claimable once every older transaction (of any test) has ended.
	var recs []outbox.Record
	for deadline := time.Now().Add(patience); len(recs) != len(msgs); {
		var err error
		if recs, _, err = store.Claim(ctx, old, t0, nil, 100); err != nil || time.Now().After(deadline) {
			t.Fatalf("Claim = %d records, %v", len(recs), err)
		}
		time.Sleep(5 * time.Millisecond) // waiting for other transactions to end
	}
	// Two seconds later the old owner's lease has expired; a new relay takes the partitions over.
	t1 := t0.Add(2 * time.Second)
	taken, err := store.Lease(ctx, "new", t1, time.Second)
	if err != nil || len(taken) != len(old) {
		t.Fatalf("Lease(new) = %v, %v; want the %d expired partitions", taken, err, len(old))
	}
	for i, l := range taken {
		if l.Epoch <= old[i].Epoch {
			t.Fatalf("epoch of partition %d did not grow on takeover: %d -> %d", l.Partition, old[i].Epoch, l.Epoch)
		}
	}
	if err := store.Complete(ctx, "old", old, recs, t1, false); !errors.Is(err, outbox.ErrLeaseLost) {
		t.Fatalf("Complete by the fenced-off relay = %v, want ErrLeaseLost", err)
	}
	if st, _ := store.Stats(ctx); st.Pending != int64(len(msgs)) {
		t.Fatalf("pending = %d after a fenced completion, want %d", st.Pending, len(msgs))
	}
	// Nor can it hold the messages back, count attempts against them or dead-letter them.
	if err := store.Retry(ctx, "old", old, recs[0], "late failure", t1.Add(time.Hour)); !errors.Is(err, outbox.ErrLeaseLost) {
		t.Fatalf("Retry by the fenced-off relay = %v, want ErrLeaseLost", err)
	}
	if err := store.DeadLetter(ctx, "old", old, recs[0], "late failure", t1, true); !errors.Is(err, outbox.ErrLeaseLost) {
		t.Fatalf("DeadLetter by the fenced-off relay = %v, want ErrLeaseLost", err)
	}
	// A retry would hold the key, so the new owner would claim nothing of it.
	again, _, err := store.Claim(ctx, taken, t1, nil, 100)
	if err != nil || len(again) != len(msgs) || again[0].Attempts != 0 {
		t.Fatalf("Claim by the new owner = %d records, %v; want all %d, with no attempt counted", len(again), err, len(msgs))
	}
	if err := store.Complete(ctx, "new", taken, recs, t1, false); err != nil {
		t.Fatalf("Complete by the new owner = %v", err)
	}
}
