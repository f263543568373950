package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// waitRecorder starts WaitN calls and records when and in which order they return.
type waitRecorder struct {
	start time.Time
	mu    sync.Mutex
	order []int
	at    map[int]time.Duration
	errs  map[int]error
	wg    sync.WaitGroup
}

func newRecorder() *waitRecorder {
	return &waitRecorder{start: time.Now(), at: map[int]time.Duration{}, errs: map[int]error{}}
}

// spawn starts waiter id and returns once it is blocked (or done).
func (r *waitRecorder) spawn(ctx context.Context, l Limiter, id, n int) {
	r.wg.Go(func() {
		err := l.WaitN(ctx, n)
		r.mu.Lock()
		r.order = append(r.order, id)
		r.at[id] = time.Since(r.start)
		r.errs[id] = err
		r.mu.Unlock()
	})
	synctest.Wait()
}

func TestWaitFIFO(t *testing.T) {
	r := Rate{Limit: 1, Period: 100 * time.Millisecond}
	for _, a := range algorithms {
		t.Run(a.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := mustLimiter(t, a, r)
				if !l.Allow() {
					t.Fatal("first Allow denied")
				}
				rec := newRecorder()
				for id := range 5 {
					rec.spawn(context.Background(), l, id, 1)
				}
				if l.Allow() {
					t.Fatal("Allow jumped ahead of queued waiters")
				}
				rec.wg.Wait()
				for i, id := range rec.order {
					if id != i || rec.errs[id] != nil {
						t.Fatalf("order %v, errs %v: want FIFO without errors", rec.order, rec.errs)
					}
					if want := time.Duration(i+1) * 100 * time.Millisecond * a.spacing(); rec.at[id] != want {
						t.Fatalf("waiter %d returned at %s, want %s", id, rec.at[id], want)
					}
				}
			})
		})
	}
}

// TestWaitCancelRefund cancels a waiter in the middle of the queue: what it reserved is given back exactly, the
// waiter behind it moves up by exactly its share, and nobody else is affected.
func TestWaitCancelRefund(t *testing.T) {
	for _, a := range algorithms {
		t.Run(a.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := mustLimiter(t, a, Every(time.Second))
				l.Allow()
				rec := newRecorder()
				ctx2, cancel2 := context.WithCancel(context.Background())
				rec.spawn(context.Background(), l, 1, 1)
				rec.spawn(ctx2, l, 2, 1)
				rec.spawn(context.Background(), l, 3, 1)
				time.Sleep(500 * time.Millisecond)
				cancel2()
				rec.wg.Wait()
				if !errors.Is(rec.errs[2], context.Canceled) || rec.at[2] != 500*time.Millisecond {
					t.Fatalf("cancelled waiter: %v at %s", rec.errs[2], rec.at[2])
				}
				sp := a.spacing() * time.Second
				if rec.errs[1] != nil || rec.at[1] != sp || rec.errs[3] != nil || rec.at[3] != 2*sp {
					t.Fatalf("waiters 1 and 3: %v at %s, %v at %s; want nil at 1s and 2s",
						rec.errs[1], rec.at[1], rec.errs[3], rec.at[3])
				}
				if l.Allow() {
					t.Fatal("Allow right after waiter 3: the refund was too large")
				}
				time.Sleep(sp)
				if !l.Allow() {
					t.Fatal("Allow one interval after waiter 3 denied: the refund was too small")
				}
			})
		})
	}
}

// TestWaitCancelAllRestoresState cancels every waiter and checks the limiter is exactly as before they came.
func TestWaitCancelAllRestoresState(t *testing.T) {
	for _, a := range algorithms {
		t.Run(a.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := mustLimiter(t, a, PerSecond(10))
				for l.Allow() {
				}
				time.Sleep(30 * time.Millisecond)
				before := l.AllowN(0)
				ctx, cancel := context.WithCancel(context.Background())
				rec := newRecorder()
				for id := range 4 {
					rec.spawn(ctx, l, id, 1+id%2)
				}
				cancel()
				rec.wg.Wait()
				if after := l.AllowN(0); after != before {
					t.Fatalf("after cancelling every waiter: %+v, before: %+v", after, before)
				}
			})
		})
	}
}

func TestWaitFailsFast(t *testing.T) {
	for _, a := range algorithms {
		t.Run(a.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := mustLimiter(t, a, Every(time.Second))
				l.Allow()
				before := l.AllowN(0)
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				defer cancel()
				if err := l.Wait(ctx); !errors.Is(err, ErrWouldExceedDeadline) || time.Since(start) != 0 {
					t.Fatalf("Wait = %v after %s, want ErrWouldExceedDeadline at once", err, time.Since(start))
				}
				if err := l.WaitN(context.Background(), 2); !errors.Is(err, ErrExceedsBurst) {
					t.Fatalf("WaitN(2) over a quota of 1 = %v, want ErrExceedsBurst", err)
				}
				if d := l.AllowN(2); d.Allowed || d.RetryAfter != Forever {
					t.Fatalf("AllowN(2) over a quota of 1 = %+v, want RetryAfter Forever", d)
				}
				done, cancel2 := context.WithCancel(context.Background())
				cancel2()
				if err := l.Wait(done); !errors.Is(err, context.Canceled) {
					t.Fatalf("Wait on a done ctx = %v", err)
				}
				if after := l.AllowN(0); after != before {
					t.Fatalf("failed calls changed the state: %+v, before %+v", after, before)
				}
				ctx3, cancel3 := context.WithTimeout(context.Background(), a.spacing()*1500*time.Millisecond)
				defer cancel3()
				if err := l.Wait(ctx3); err != nil || time.Since(start) != a.spacing()*time.Second {
					t.Fatalf("Wait with enough time = %v after %s", err, time.Since(start))
				}
			})
		})
	}
}

// TestSetRateReplans speeds the limiter up while two callers sleep: they are woken and served at the new rate.
func TestSetRateReplans(t *testing.T) {
	type setter interface{ SetRate(Rate) error }
	for _, a := range algorithms {
		t.Run(a.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var opts []Option
				if a.name == "tokenbucket" {
					opts = append(opts, WithBurst(1))
				}
				l := mustLimiter(t, a, Every(time.Second), opts...)
				l.Allow()
				rec := newRecorder()
				rec.spawn(context.Background(), l, 1, 1)
				rec.spawn(context.Background(), l, 2, 1)
				time.Sleep(50 * time.Millisecond)
				if err := l.(setter).SetRate(Rate{Limit: 10, Period: time.Second}); err != nil {
					t.Fatal(err)
				}
				rec.wg.Wait()
				for id := 1; id <= 2; id++ {
					if rec.errs[id] != nil || rec.at[id] > time.Second/2 {
						t.Fatalf("waiter %d: %v at %s, want served well before the old rate's %ds", id, rec.errs[id], rec.at[id], id)
					}
				}
				if a.name == "tokenbucket" || a.name == "leakybucket" {
					// At 50ms the admitted event still owes 0.95 of an event: 95ms at the new rate; then the waiters
					// follow 100ms apart.
					if rec.at[1] != 145*time.Millisecond || rec.at[2] != 245*time.Millisecond {
						t.Fatalf("waiters at %s and %s, want 145ms and 245ms", rec.at[1], rec.at[2])
					}
				}
			})
		})
	}
}

func TestSetRateFailsWaiterOverBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, _ := NewTokenBucket(PerSecond(4))
		b.AllowN(4)
		rec := newRecorder()
		rec.spawn(context.Background(), b, 1, 3)
		if err := b.SetRate(PerSecond(2)); err != nil {
			t.Fatal(err)
		}
		rec.wg.Wait()
		if !errors.Is(rec.errs[1], ErrExceedsBurst) {
			t.Fatalf("waiter for 3 after the burst became 2: %v", rec.errs[1])
		}
	})
}

func TestLeakyBucketQueueBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := NewLeakyBucket(PerSecond(10), WithMaxQueue(2))
		p.Allow()
		rec := newRecorder()
		rec.spawn(context.Background(), p, 1, 1)
		rec.spawn(context.Background(), p, 2, 1)
		before := p.AllowN(0)
		if err := p.Wait(context.Background()); !errors.Is(err, ErrQueueFull) {
			t.Fatalf("third waiter with a queue of 2 = %v, want ErrQueueFull", err)
		}
		if after := p.AllowN(0); after != before {
			t.Fatalf("a refused waiter changed the state: %+v, before %+v", after, before)
		}
		rec.wg.Wait()
		if rec.at[1] != 100*time.Millisecond || rec.at[2] != 200*time.Millisecond {
			t.Fatalf("paced at %s and %s, want 100ms and 200ms", rec.at[1], rec.at[2])
		}
	})
}

// TestSetRateSlower slows the bucket down while callers sleep: they are pushed back, in order.
func TestSetRateSlower(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, _ := NewTokenBucket(PerSecond(10), WithBurst(1))
		b.Allow()
		rec := newRecorder()
		rec.spawn(context.Background(), b, 1, 1)
		rec.spawn(context.Background(), b, 2, 1)
		if err := b.SetRate(PerSecond(1)); err != nil {
			t.Fatal(err)
		}
		rec.wg.Wait()
		// The admitted event owes a whole event, 1s at the new rate; the waiters follow one second apart.
		if rec.order[0] != 1 || rec.at[1] != time.Second || rec.at[2] != 2*time.Second {
			t.Fatalf("order %v, at %v; want 1 at 1s, 2 at 2s", rec.order, rec.at)
		}
		if r, burst := b.Rate(); r != PerSecond(1) || burst != 1 {
			t.Fatalf("Rate() = %s, %d", r, burst)
		}
	})
}

// TestSetRateFarSlowerKeepsTheDebt slows a drained bucket down by a factor so large that the debt's conversion
// to the new interval overflows 64 bits: the debt must be capped, not wrapped, so the bucket stays drained.
func TestSetRateFarSlowerKeepsTheDebt(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b, err := NewTokenBucket(PerSecond(1_000_000_000), WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	if d := b.AllowN(1_000_000_000); !d.Allowed {
		t.Fatalf("draining the burst: %+v", d)
	}
	// One event per 1<<57 ns (about 4.6 years): the drained second is owed as 10⁹ such events.
	if err := b.SetRate(Every(1 << 57)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(24 * time.Hour)
	if d := b.AllowN(1); d.Allowed || d.RetryAfter < 1<<56 {
		t.Fatalf("a day after slowing down a drained bucket: %+v, want denied for years", d)
	}
}

// TestWaitCancelAtTheSlot ends ctx at the very moment the waiter's slot comes (the limiter's clock is moved to
// the slot before ctx is cancelled, so the waiter wakes on ctx): the slot was taken, so WaitN returns nil, as
// documented, and nothing is given back.
func TestWaitCancelAtTheSlot(t *testing.T) {
	for _, name := range []string{"tokenbucket", "leakybucket"} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var ahead atomic.Int64
				clk := WithClock(func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) })
				var l Limiter
				if name == "tokenbucket" {
					l, _ = NewTokenBucket(Every(time.Second), clk)
				} else {
					l, _ = NewLeakyBucket(Every(time.Second), clk)
				}
				l.Allow()
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error)
				go func() { done <- l.Wait(ctx) }()
				synctest.Wait()
				ahead.Store(int64(time.Second))
				cancel()
				if err := <-done; err != nil {
					t.Fatalf("Wait with ctx ending at its slot = %v, want nil", err)
				}
				if l.Allow() {
					t.Fatal("Allow admitted at the slot WaitN returned nil for: the slot was given back")
				}
			})
		})
	}
}
