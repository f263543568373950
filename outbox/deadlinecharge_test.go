package outbox_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/internal/storetest"
)

// TestNeverAckedDeadLettered: a message the broker never acknowledges is cut at every batch's lease deadline.
// Having been in flight from its batch's start, it is charged an attempt each time, backed off in between,
// and dead-lettered after WithMaxAttempts, while other keys' messages keep flowing and its key's later
// message stays parked. The message after it in its serial call, never begun, is not charged.
func TestNeverAckedDeadLettered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = 10 * time.Second
		store := newSQLite(t)
		msgs := storetest.Messages(t.Name(), 6, 3) // waves: 0 1 2 | 3 4 5
		storetest.EnqueueSQLite(t, store, msgs)
		hung, parked := msgs[1], msgs[4] // k1's first and second
		more := storetest.Messages(t.Name()+"-more", 4, 4)
		for i := range more {
			more[i].Key = "other-" + more[i].Key
		}

		var broker recorder
		var mu sync.Mutex
		var tries []time.Time // when the hung message's sends began
		pub := outbox.PublisherFunc(func(ctx context.Context, m outbox.Message) error {
			if m.ID == hung.ID {
				mu.Lock()
				tries = append(tries, time.Now())
				mu.Unlock()
				<-ctx.Done()
				return ctx.Err()
			}
			broker.add(m)
			return nil
		})
		storeC := &claims{Store: store, recs: map[string]outbox.Record{}}
		type charge struct {
			at  time.Time
			ev  outbox.Event
			key string
		}
		var events []charge // guarded by mu
		cut := 0            // guarded by mu
		retried := make(chan struct{}, 1)
		dead := make(chan struct{})
		r, err := outbox.NewRelay(storeC, pub, outbox.WithLeaseTTL(ttl), outbox.WithMaxAttempts(3),
			outbox.WithBackoff(2*time.Second, 2*time.Second), outbox.WithHook(func(ev outbox.Event) {
				mu.Lock()
				defer mu.Unlock()
				switch ev.Kind {
				case outbox.EventFailed, outbox.EventRetried, outbox.EventDeadLettered:
					events = append(events, charge{time.Now(), ev, ev.Message.ID})
				case outbox.EventBatchCut:
					cut += ev.Count
				}
				switch ev.Kind {
				case outbox.EventRetried:
					select {
					case retried <- struct{}{}:
					default:
					}
				case outbox.EventDeadLettered:
					if ev.Message.ID == hung.ID {
						close(dead)
					}
				}
			}))
		if err != nil {
			t.Fatal(err)
		}
		runRelay(t, r)
		// Other keys keep flowing while the hung message is retried.
		await(t, retried, time.Minute, "a retry")
		storetest.EnqueueSQLite(t, store, more)
		await(t, dead, 5*time.Minute, "the hung message dead-lettered")
		time.Sleep(time.Minute) // no further attempt, nothing left to publish
		synctest.Wait()

		mu.Lock()
		defer mu.Unlock()
		if len(tries) != 3 {
			t.Fatalf("the hung message was sent %d times, want 3", len(tries))
		}
		kinds := []outbox.EventKind{outbox.EventFailed, outbox.EventRetried, outbox.EventFailed,
			outbox.EventRetried, outbox.EventFailed, outbox.EventDeadLettered}
		if len(events) != len(kinds) {
			t.Fatalf("%d failure events, want %d: %+v", len(events), len(kinds), events)
		}
		for i, e := range events {
			if e.ev.Kind != kinds[i] || e.key != hung.ID {
				t.Fatalf("event %d = %v of %s, want %v of the hung message", i, e.ev.Kind, e.key, kinds[i])
			}
			if !errors.Is(e.ev.Err, context.DeadlineExceeded) || !strings.Contains(e.ev.Err.Error(), "outlasted the lease deadline") {
				t.Fatalf("event %d error = %v; want one wrapping context.DeadlineExceeded that names the lease deadline", i, e.ev.Err)
			}
		}
		for n := range 3 {
			failed := events[2*n].at
			if inFlight := failed.Sub(tries[n]); inFlight < 2*ttl/5 {
				t.Fatalf("attempt %d charged after %s in flight, want at least 2/5 of the TTL", n+1, inFlight)
			}
			if n == 2 {
				break
			}
			delay := events[2*n+1].ev.Delay
			if delay < time.Second || delay > 2*time.Second {
				t.Fatalf("retry %d delay = %s, want within the backoff [1s, 2s]", n+1, delay)
			}
			if wait := tries[n+1].Sub(failed); wait < delay {
				t.Fatalf("attempt %d began %s after the previous failed, within its backoff %s", n+2, wait, delay)
			}
		}
		if cut != 3 { // the first batch: msgs 2 (never begun), 3 and 5; 4 waits behind its key
			t.Fatalf("%d messages cut without a charge, want 3", cut)
		}
		for id, rec := range storeC.recs {
			if id != hung.ID && rec.Attempts != 0 {
				t.Fatalf("message %s claimed with %d attempts, want 0", id, rec.Attempts)
			}
		}

		want := []outbox.Message{msgs[0], msgs[2], msgs[3], msgs[5]}
		first := broker.check(t, append(want, more...), 0)
		for _, m := range more {
			if !first[m.ID].Before(events[len(events)-1].at) {
				t.Fatalf("message %s of another key was held until the hung message was dead-lettered", m.ID)
			}
		}
		letters, err := store.ListDeadLetters(context.Background(), "", 10)
		if err != nil || len(letters) != 1 || letters[0].ID != hung.ID || letters[0].Attempts != 3 ||
			!strings.Contains(letters[0].LastError, "outlasted the lease deadline") {
			t.Fatalf("dead letters = %+v, %v; want the hung message after 3 attempts", letters, err)
		}
		if st, err := store.Stats(context.Background()); err != nil || st.Pending != 1 || st.DeadLetters != 1 {
			t.Fatalf("Stats = %+v, %v; want its key's later message %s parked behind the dead letter", st, err, parked.ID)
		}
	})
}

// slowClaims is a store whose first Claim takes d, like a database that stalls: the batch's first wave
// starts with less than its full publish time.
type slowClaims struct {
	outbox.Store
	d    time.Duration
	once sync.Once
}

func (s *slowClaims) Claim(ctx context.Context, leases []outbox.Lease, now time.Time, after *outbox.Record, limit int) ([]outbox.Record, bool, error) {
	s.once.Do(func() { time.Sleep(s.d) })
	return s.Store.Claim(ctx, leases, now, after, limit)
}

// TestCutWithoutFairChanceNotCharged: a message the lease deadline cuts without its having been in flight
// from the batch's start for 2/5 of the TTL counts no attempt, and is published by a later batch.
func TestCutWithoutFairChanceNotCharged(t *testing.T) {
	// slowly returns a publisher taking d per call, or per message with serial, acknowledging unless ctx ends.
	slowly := func(broker *recorder, d time.Duration, serial bool) outbox.Publisher {
		send := func(ctx context.Context, batch ...outbox.Message) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
			for _, m := range batch {
				broker.add(m)
			}
			return nil
		}
		if serial {
			return outbox.PublisherFunc(func(ctx context.Context, m outbox.Message) error { return send(ctx, m) })
		}
		return publisherFunc(func(ctx context.Context, batch []outbox.Message) []error {
			if err := send(ctx, batch...); err != nil {
				errs := make([]error, len(batch))
				for i := range errs {
					errs[i] = err
				}
				return errs
			}
			return nil
		})
	}
	const ttl = 10 * time.Second // publish deadline 8s after a renewal; a charge needs 4s in flight
	for _, tc := range []struct {
		name   string
		keys   int
		per    time.Duration
		serial bool
		stall  time.Duration
	}{
		// The first wave (0 1) is acknowledged after 5s; the second (2 3), with 3s left, is cut.
		{name: "later wave", keys: 2, per: 5 * time.Second},
		// The claim stalls 5s, so the first wave starts with 3s left and is cut.
		{name: "late first wave", keys: 4, per: 5 * time.Second, stall: 5 * time.Second},
		// One wave sent a message at a time: 0 and 1 by 6s, 2 begun with 2s left and cut, 3 never begun.
		{name: "serial publisher", keys: 4, per: 3 * time.Second, serial: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := newSQLite(t)
				msgs := storetest.Messages(t.Name(), 4, tc.keys)
				storetest.EnqueueSQLite(t, store, msgs)
				var broker recorder
				storeC := &claims{Store: store, recs: map[string]outbox.Record{}}
				var s outbox.Store = storeC
				if tc.stall > 0 {
					s = &slowClaims{Store: storeC, d: tc.stall}
				}
				var mu sync.Mutex
				cut, failed, published := 0, 0, 0 // guarded by mu
				done := make(chan struct{})
				r, err := outbox.NewRelay(s, slowly(&broker, tc.per, tc.serial), outbox.WithLeaseTTL(ttl),
					outbox.WithHook(func(ev outbox.Event) {
						mu.Lock()
						defer mu.Unlock()
						switch ev.Kind {
						case outbox.EventBatchCut:
							cut += ev.Count
						case outbox.EventFailed:
							failed++
						case outbox.EventPublished:
							if published += ev.Count; published == len(msgs) {
								close(done)
							}
						}
					}))
				if err != nil {
					t.Fatal(err)
				}
				runRelay(t, r)
				await(t, done, time.Hour, "all published")
				mu.Lock()
				defer mu.Unlock()
				if cut == 0 || failed != 0 {
					t.Fatalf("%d messages cut and %d failed attempts, want some cut and no failure", cut, failed)
				}
				for id, rec := range storeC.recs {
					if rec.Attempts != 0 {
						t.Fatalf("message %s claimed with %d attempts, want 0: it had no fair chance", id, rec.Attempts)
					}
				}
				broker.check(t, msgs, 0)
			})
		})
	}
}
