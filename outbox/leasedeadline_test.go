package outbox_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/internal/storetest"
)

// recorder is a broker that keeps every arrival, duplicates included, with its time, so that a message landing
// after a later message of its key shows.
type recorder struct {
	mu       sync.Mutex
	arrivals []arrival
}

type arrival struct {
	m  outbox.Message
	at time.Time
}

func (r *recorder) add(m outbox.Message) {
	r.mu.Lock()
	r.arrivals = append(r.arrivals, arrival{m, time.Now()})
	r.mu.Unlock()
}

// check fails t unless every message of want arrived, no message arrived after a later message of its key,
// and as many arrivals as dups were copies.
func (r *recorder) check(t *testing.T, want []outbox.Message, dups int) map[string]time.Time {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	pos := map[string]int{}
	for i, m := range want {
		pos[m.ID] = i
	}
	first := map[string]time.Time{}
	latest := map[string]int{} // per key, the position of the latest message arrived
	copies := 0
	for _, a := range r.arrivals {
		p, ok := pos[a.m.ID]
		if !ok {
			t.Fatalf("unexpected message %s", a.m.ID)
		}
		if _, seen := first[a.m.ID]; seen {
			copies++
		} else {
			first[a.m.ID] = a.at
		}
		if q, ok := latest[a.m.Key]; ok && q > p {
			t.Fatalf("key %s: message %d arrived after message %d", a.m.Key, p, q)
		}
		latest[a.m.Key] = p
	}
	if len(first) != len(want) || copies != dups {
		t.Fatalf("%d distinct messages and %d copies arrived, want %d and %d", len(first), copies, len(want), dups)
	}
	return first
}

// renewOnce is a store whose first Lease works and whose renewals fail, like a relay cut off from the
// database: its leases expire and another relay takes the partitions over.
type renewOnce struct {
	outbox.Store
	calls   atomic.Int64
	leaseAt atomic.Pointer[time.Time]
}

func (s *renewOnce) Lease(ctx context.Context, owner string, now time.Time, ttl time.Duration) ([]outbox.Lease, error) {
	if s.calls.Add(1) > 1 {
		return nil, errors.New("database unreachable")
	}
	s.leaseAt.Store(&now)
	return s.Store.Lease(ctx, owner, now, ttl)
}

// claims records what a store handed out.
type claims struct {
	outbox.Store
	mu   sync.Mutex
	recs map[string]outbox.Record
}

func (c *claims) Claim(ctx context.Context, leases []outbox.Lease, now time.Time, after *outbox.Record, limit int) ([]outbox.Record, bool, error) {
	recs, held, err := c.Store.Claim(ctx, leases, now, after, limit)
	c.mu.Lock()
	for _, r := range recs {
		c.recs[r.ID] = r
	}
	c.mu.Unlock()
	return recs, held, err
}

// runRelay runs r until t ends.
func runRelay(t *testing.T, r *outbox.Relay) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() { _ = r.Run(ctx) })
}

// await waits until ch is closed or sent on, failing t when that takes longer than d.
func await(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("waited %s for %s", d, what)
	}
}

// TestBatchCutAtLeaseDeadline: a broker slower than the lease cannot make a relay publish past its lease. The
// publish context ends a fifth of the TTL before the lease expires, the unacknowledged messages stay pending
// with no attempt charged (the slow one is in the batch's second wave, the rest were never sent), a second
// relay takes them over once the lease expired, and no message of a key arrives after a later one of its key.
func TestBatchCutAtLeaseDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = 10 * time.Second
		store := newSQLite(t)
		msgs := storetest.Messages(t.Name(), 9, 3) // waves: 0 1 2 | 3 4 5 | 6 7 8
		storetest.EnqueueSQLite(t, store, msgs)
		slow := msgs[4].ID
		var broker recorder
		var ended, deadline time.Time
		pubA := outbox.PublisherFunc(func(ctx context.Context, m outbox.Message) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if m.ID == slow {
				select {
				case <-ctx.Done():
					ended = time.Now()
					deadline, _ = ctx.Deadline()
					return ctx.Err()
				case <-time.After(3 * ttl): // without a deadline it lands long after the takeover
				}
			}
			broker.add(m)
			return nil
		})
		storeA := &renewOnce{Store: store}
		var events []outbox.Event
		cutA := make(chan struct{})
		a, err := outbox.NewRelay(storeA, pubA, outbox.WithLeaseTTL(ttl), outbox.WithHook(func(ev outbox.Event) {
			switch ev.Kind {
			case outbox.EventBatchCut, outbox.EventFailed, outbox.EventRetried, outbox.EventDeadLettered, outbox.EventPublished:
				events = append(events, ev)
			}
			if ev.Kind == outbox.EventBatchCut {
				close(cutA)
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		runRelay(t, a)
		await(t, cutA, time.Minute, "a batch cut short")

		leaseAt := *storeA.leaseAt.Load()
		expiry := leaseAt.Add(ttl)
		if want := expiry.Add(-ttl / 5); !deadline.Equal(want) || ended.After(want) {
			t.Fatalf("publish context: deadline %s, ended %s; want both at the lease expiry %s minus TTL/5",
				deadline.Sub(leaseAt), ended.Sub(leaseAt), ttl)
		}
		if len(events) != 2 || events[0].Kind != outbox.EventPublished || events[0].Count != 4 ||
			events[1].Count != 5 {
			t.Fatalf("events of the first relay = %+v; want 4 published, then 5 cut short, no failures", events)
		}

		storeB := &claims{Store: store, recs: map[string]outbox.Record{}}
		published := make(chan struct{})
		var n atomic.Int64
		b, err := outbox.NewRelay(storeB, outbox.PublisherFunc(func(ctx context.Context, m outbox.Message) error {
			broker.add(m)
			return nil
		}), outbox.WithLeaseTTL(ttl), outbox.WithHook(func(ev outbox.Event) {
			if ev.Kind == outbox.EventPublished && n.Add(int64(ev.Count)) == 5 {
				close(published)
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		runRelay(t, b)
		await(t, published, time.Minute, "the second relay to publish the 5 messages left")
		first := broker.check(t, msgs, 0)
		for _, m := range msgs[4:] {
			if at := first[m.ID]; at.Before(expiry) {
				t.Fatalf("message %s published %s before the first relay's lease expired", m.ID, expiry.Sub(at))
			}
			if rec := storeB.recs[m.ID]; rec.Attempts != 0 {
				t.Fatalf("message %s claimed with %d attempts, want 0: a cut is not a failure", m.ID, rec.Attempts)
			}
		}
		if st, err := store.Stats(context.Background()); err != nil || st.Pending != 0 {
			t.Fatalf("Stats = %+v, %v; want nothing pending", st, err)
		}
	})
}

// TestBacklogNotCut: in a long backlog, batches that take less than the publish deadline allows are never cut,
// whatever their length relative to the renewal interval: the relay renews between batches.
func TestBacklogNotCut(t *testing.T) {
	for _, per := range []time.Duration{900 * time.Millisecond, 3 * time.Second, 7500 * time.Millisecond} {
		t.Run(per.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const ttl = 10 * time.Second
				store := newSQLite(t)
				msgs := storetest.Messages(t.Name(), 40, 4) // batches of 4: one wave each
				storetest.EnqueueSQLite(t, store, msgs)
				var broker recorder
				pub := publisherFunc(func(ctx context.Context, batch []outbox.Message) []error {
					select {
					case <-ctx.Done():
						errs := make([]error, len(batch))
						for i := range errs {
							errs[i] = ctx.Err()
						}
						return errs
					case <-time.After(per):
					}
					for _, m := range batch {
						broker.add(m)
					}
					return nil
				})
				var cut, failed, published atomic.Int64
				done := make(chan struct{})
				r, err := outbox.NewRelay(store, pub, outbox.WithLeaseTTL(ttl), outbox.WithBatchSize(4),
					outbox.WithHook(func(ev outbox.Event) {
						switch ev.Kind {
						case outbox.EventBatchCut:
							cut.Add(1)
						case outbox.EventFailed:
							failed.Add(1)
						case outbox.EventPublished:
							if published.Add(int64(ev.Count)) == int64(len(msgs)) {
								close(done)
							}
						}
					}))
				if err != nil {
					t.Fatal(err)
				}
				runRelay(t, r)
				await(t, done, time.Hour, "all published")
				if cut.Load() != 0 || failed.Load() != 0 {
					t.Fatalf("%d batches cut short and %d failures, want none", cut.Load(), failed.Load())
				}
				broker.check(t, msgs, 0)
			})
		})
	}
}
