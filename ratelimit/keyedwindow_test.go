package ratelimit

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestKeyedSlidingWindowMatchesSlidingWindow drives random traffic over 50 keys through a capped
// KeyedSlidingWindow and through one SlidingWindow per key: every decision must be the same (eviction of idle
// keys changes nothing), except new keys refused at the cap, which the per-key limiters then do not see.
func TestKeyedSlidingWindowMatchesSlidingWindow(t *testing.T) {
	clk := &fakeClock{}
	r := Rate{Limit: 5, Period: 100 * time.Millisecond}
	kw, err := NewKeyedSlidingWindow[int](r, clk.opt(), WithMaxKeys(30), WithShards(1))
	if err != nil {
		t.Fatal(err)
	}
	each := map[int]*SlidingWindow{}
	rng := rand.New(rand.NewPCG(7, 8))
	tooMany := 0
	for i := range 100_000 {
		clk.Advance(time.Duration(rng.IntN(100)) * 10 * time.Microsecond)
		key, n := rng.IntN(50), 1+rng.IntN(2)
		got, err := kw.Limit(context.Background(), key, n)
		if errors.Is(err, ErrTooManyKeys) {
			tooMany++
			continue
		}
		if each[key] == nil {
			each[key], _ = NewSlidingWindow(r, clk.opt())
		}
		if want := each[key].AllowN(n); got != want {
			t.Fatalf("call %d, key %d: keyed %+v, alone %+v", i, key, got, want)
		}
	}
	if kw.keys.evictions() == 0 || kw.Len() > 30 {
		t.Fatalf("evictions %d, len %d: the cap was not exercised", kw.keys.evictions(), kw.Len())
	}
	t.Logf("%d evictions, %d new keys denied at the cap", kw.keys.evictions(), tooMany)
}

func TestKeyedSlidingWindowWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kw, _ := NewKeyedSlidingWindow[string](Rate{Limit: 2, Period: time.Second})
		start := time.Now()
		kw.AllowN("a", 2)
		if err := kw.Wait(context.Background(), "a"); err != nil || time.Since(start) != 1500*time.Millisecond {
			t.Fatalf("Wait = %v after %s, want 1.5s (the previous window weighs 2·(1−e) + 0 <= 1)", err, time.Since(start))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		if err := kw.Wait(ctx, "a"); !errors.Is(err, ErrWouldExceedDeadline) {
			t.Fatalf("Wait past the deadline = %v", err)
		}
		if _, err := kw.Limit(context.Background(), "a", 3); !errors.Is(err, ErrExceedsBurst) {
			t.Fatalf("Limit(3) with a quota of 2 = %v", err)
		}
		if _, err := NewKeyedSlidingWindow[string](PerSecond(1), WithBurst(2)); err == nil {
			t.Fatal("WithBurst accepted by a sliding window")
		}
	})
}

// TestKeyedWaitTooManyKeysFailsAtOnce: both keyed limiters' WaitN fail at once, taking nothing, when a new key
// arrives at the cap, as their docs say.
func TestKeyedWaitTooManyKeysFailsAtOnce(t *testing.T) {
	type waiter interface {
		WaitN(ctx context.Context, key string, n int) error
		Allow(key string) bool
	}
	for name, mk := range map[string]func() waiter{
		"tokenbucket": func() waiter {
			l, _ := NewKeyed[string](Every(time.Second), WithMaxKeys(1), WithShards(1))
			return l
		},
		"slidingwindow": func() waiter {
			l, _ := NewKeyedSlidingWindow[string](Every(time.Second), WithMaxKeys(1), WithShards(1))
			return l
		},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l, start := mk(), time.Now()
				if !l.Allow("a") {
					t.Fatal("first key denied")
				}
				if err := l.WaitN(context.Background(), "b", 1); !errors.Is(err, ErrTooManyKeys) || time.Since(start) != 0 {
					t.Fatalf("WaitN for a new key at the cap = %v after %s, want ErrTooManyKeys at once",
						err, time.Since(start))
				}
			})
		})
	}
}

// TestKeyedSlidingWindowWaitFIFO queues waiters of 1 to 3 events on one key: they are served in arrival order,
// while Allow on that key is denied and another key is not delayed at all.
func TestKeyedSlidingWindowWaitFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kw, _ := NewKeyedSlidingWindow[int](Rate{Limit: 3, Period: 100 * time.Millisecond})
		kw.AllowN(1, 3)
		rec := newKeyRecorder()
		for id := range 12 {
			rec.spawn(context.Background(), kw, id, 1, 1+id%3)
		}
		if kw.Allow(1) {
			t.Fatal("Allow jumped ahead of the key's waiters")
		}
		if d := kw.AllowN(1, 0); d.Allowed || d.RetryAfter <= 0 {
			t.Fatalf("AllowN(0) with waiters = %+v, want denied", d)
		}
		if !kw.Allow(2) {
			t.Fatal("another key was held up by the waiters")
		}
		rec.wg.Wait()
		for i, id := range rec.order[1] {
			if id != i || rec.errs[id] != nil {
				t.Fatalf("order %v, errs %v: want FIFO without errors", rec.order[1], rec.errs)
			}
			if i > 0 && rec.at[id] < rec.at[id-1] {
				t.Fatalf("waiter %d served at %s, before waiter %d at %s", id, rec.at[id], id-1, rec.at[id-1])
			}
		}
		if n := kw.keys.waiters(); n != 0 {
			t.Fatalf("%d waiter lists left", n)
		}
	})
}

// TestKeyedSlidingWindowWaitDoesNotPoll counts clock reads: each waiter reads the clock a bounded number of times
// (on arrival and when woken for its turn), however many wait behind it; a polling Wait reads it for every
// waiter each time anyone might be admitted.
func TestKeyedSlidingWindowWaitDoesNotPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var reads atomic.Int64
		kw, _ := NewKeyedSlidingWindow[int](Rate{Limit: 1, Period: 10 * time.Millisecond},
			WithClock(func() time.Time { reads.Add(1); return time.Now() }))
		kw.Allow(1)
		rec := newKeyRecorder()
		const waiters = 30
		for id := range waiters {
			rec.spawn(context.Background(), kw, id, 1, 1)
		}
		rec.wg.Wait()
		for i, id := range rec.order[1] {
			if id != i || rec.errs[id] != nil {
				t.Fatalf("order %v: want FIFO without errors", rec.order[1])
			}
		}
		if n := reads.Load(); n > 4*waiters {
			t.Fatalf("%d clock reads for %d waiters: waiters poll", n, waiters)
		}
		t.Logf("%d clock reads for %d waiters", reads.Load(), waiters)
	})
}

// TestKeyedSlidingWindowWaitCancel cancels waiters at the head and in the middle of a key's queue: nothing was
// taken, so the key is as before, and the waiters behind move up.
func TestKeyedSlidingWindowWaitCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kw, _ := NewKeyedSlidingWindow[int](Every(100 * time.Millisecond))
		kw.Allow(1)
		s, h := locate(&kw.keys, 1)
		state := func() windowCounts { s.mu.Lock(); defer s.mu.Unlock(); return s.m[h] }
		before := state()
		rec := newKeyRecorder()
		ctx0, cancel0 := context.WithCancel(context.Background())
		ctx2, cancel2 := context.WithCancel(context.Background())
		rec.spawn(ctx0, kw, 0, 1, 1)
		rec.spawn(context.Background(), kw, 1, 1, 1)
		rec.spawn(ctx2, kw, 2, 1, 1)
		rec.spawn(context.Background(), kw, 3, 1, 1)
		time.Sleep(10 * time.Millisecond)
		cancel0()
		cancel2()
		synctest.Wait()
		if after := state(); after != before {
			t.Fatalf("cancelled waiters changed the key: %+v, before %+v", after, before)
		}
		rec.wg.Wait()
		if !errors.Is(rec.errs[0], context.Canceled) || !errors.Is(rec.errs[2], context.Canceled) {
			t.Fatalf("cancelled waiters: %v, %v", rec.errs[0], rec.errs[2])
		}
		// One event per 100ms window, weighted: the first event after the one at 0 fits at 200ms, the next at 400ms.
		if rec.errs[1] != nil || rec.at[1] != 200*time.Millisecond || rec.errs[3] != nil || rec.at[3] != 400*time.Millisecond {
			t.Fatalf("waiters 1 and 3: %v at %s, %v at %s; want nil at 200ms and 400ms", rec.errs[1], rec.at[1], rec.errs[3], rec.at[3])
		}
	})
}

// TestKeyedSlidingWindowWaitDeadlineCountsTheQueue: a waiter fails at once when the events of those ahead and its
// own could not fit before its deadline, taking nothing.
func TestKeyedSlidingWindowWaitDeadlineCountsTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kw, _ := NewKeyedSlidingWindow[int](Rate{Limit: 2, Period: 100 * time.Millisecond})
		kw.AllowN(1, 2)
		rec := newKeyRecorder()
		rec.spawn(context.Background(), kw, 1, 1, 2) // needs the whole quota: at 200ms
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		if err := kw.Wait(ctx, 1); !errors.Is(err, ErrWouldExceedDeadline) || time.Since(start) != 0 {
			t.Fatalf("Wait behind a waiter = %v after %s, want ErrWouldExceedDeadline at once", err, time.Since(start))
		}
		rec.wg.Wait()
		if rec.errs[1] != nil || rec.at[1] != 200*time.Millisecond {
			t.Fatalf("waiter: %v at %s, want nil at 200ms", rec.errs[1], rec.at[1])
		}
	})
}
