package ratelimit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// keyWaiter is what the wait tests drive: a keyed limiter with int keys.
type keyWaiter interface {
	WaitN(ctx context.Context, key, n int) error
	AllowN(key, n int) Decision
}

// keyRecorder starts WaitN calls on a keyed limiter and records when and in which order they return.
type keyRecorder struct {
	start time.Time
	mu    sync.Mutex
	order map[int][]int // by key
	at    map[int]time.Duration
	errs  map[int]error
	wg    sync.WaitGroup
}

func newKeyRecorder() *keyRecorder {
	return &keyRecorder{start: time.Now(), order: map[int][]int{}, at: map[int]time.Duration{}, errs: map[int]error{}}
}

// spawn starts waiter id on key and returns once it is blocked (or done).
func (r *keyRecorder) spawn(ctx context.Context, l keyWaiter, id, key, n int) {
	r.wg.Go(func() {
		err := l.WaitN(ctx, key, n)
		r.mu.Lock()
		r.order[key] = append(r.order[key], id)
		r.at[id] = time.Since(r.start)
		r.errs[id] = err
		r.mu.Unlock()
	})
	synctest.Wait()
}

// tatOf returns key's stored state, and whether it is tracked.
func (kl *Keyed[K]) tatOf(key K) (int64, bool) {
	s, h := locate(&kl.keys, key)
	s.mu.Lock()
	defer s.mu.Unlock()
	tat, ok := s.m[h]
	return tat, ok
}

// waiters returns how many waiter lists the limiter holds (keys with waiters).
func (m *keyMap[V]) waiters() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.waits)
		s.mu.Unlock()
	}
	return n
}

// TestKeyedWaitFIFOPerKey queues 40 waiters of 1 or 2 events over two keys: each key serves its own in arrival
// order, each exactly when its tokens come, and neither key delays the other; Allow never jumps the queue.
func TestKeyedWaitFIFOPerKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kl, _ := NewKeyed[int](Every(10*time.Millisecond), WithBurst(2))
		kl.AllowN(0, 2)
		kl.AllowN(1, 2)
		rec := newKeyRecorder()
		want := map[int]time.Duration{}
		owed := [2]time.Duration{} // what each key's queue holds, from the start
		for id := range 40 {
			key, n := id%2, 1+id%3%2
			owed[key] += time.Duration(n) * 10 * time.Millisecond
			want[id] = owed[key]
			rec.spawn(context.Background(), kl, id, key, n)
		}
		for key := range 2 {
			if d := kl.AllowN(key, 1); d.Allowed {
				t.Fatalf("Allow on key %d jumped ahead of its waiters", key)
			}
		}
		rec.wg.Wait()
		for key := range 2 {
			for i, id := range rec.order[key] {
				if i > 0 && id < rec.order[key][i-1] {
					t.Fatalf("key %d served %v: not FIFO", key, rec.order[key])
				}
				if rec.errs[id] != nil || rec.at[id] != want[id] {
					t.Fatalf("waiter %d: %v at %s, want nil at %s", id, rec.errs[id], rec.at[id], want[id])
				}
			}
		}
		if n := kl.keys.waiters(); n != 0 {
			t.Fatalf("%d waiter lists left after every waiter returned", n)
		}
	})
}

// TestKeyedWaitCancelRestoresState stacks waiters on a key and cancels all of them in an order that is not
// theirs: the key's stored state is exactly what it was before they came, and the waiters that had not been
// cancelled yet moved up by exactly what each cancelled one had reserved.
func TestKeyedWaitCancelRestoresState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kl, _ := NewKeyed[int](PerSecond(10), WithBurst(3))
		kl.AllowN(7, 3)
		time.Sleep(30 * time.Millisecond)
		before, _ := kl.tatOf(7)
		beforeD := kl.AllowN(7, 0)
		rec := newKeyRecorder()
		cancels := make([]context.CancelFunc, 6)
		for id := range cancels {
			var ctx context.Context
			ctx, cancels[id] = context.WithCancel(context.Background())
			rec.spawn(ctx, kl, id, 7, 1+id%2) // 1, 2, 1, 2, 1, 2 events: due at 100, 300, 400, 600, 700, 900ms
		}
		for _, id := range []int{3, 0, 5, 2} {
			time.Sleep(5 * time.Millisecond)
			cancels[id]()
			synctest.Wait()
		}
		// Left: waiter 1 (2 events) and 4 (1 event), now due at 200 and 300ms.
		time.Sleep(10 * time.Millisecond)
		mid, _ := kl.tatOf(7)
		if want := before + 3*int64(100*time.Millisecond)*kl.k; mid != want {
			t.Fatalf("state with waiters 1 and 4 left: %d, want %d (before + 3 events)", mid, want)
		}
		cancels[4]()
		cancels[1]()
		rec.wg.Wait()
		for id := range cancels {
			if !errors.Is(rec.errs[id], context.Canceled) {
				t.Fatalf("waiter %d: %v, want cancelled", id, rec.errs[id])
			}
		}
		if after, _ := kl.tatOf(7); after != before {
			t.Fatalf("state after every waiter was cancelled: %d, before %d", after, before)
		}
		if after := kl.AllowN(7, 0); after.RetryAfter != beforeD.RetryAfter || after.Remaining != beforeD.Remaining {
			t.Fatalf("after cancelling every waiter: %+v, before: %+v", after, beforeD)
		}
		if n := kl.keys.waiters(); n != 0 {
			t.Fatalf("%d waiter lists left", n)
		}
	})
}

// TestKeyedWaitCancelMovesUpExactly cancels the middle one of three stacked waiters: the one behind is served in
// its slot, and the key is then exactly as if the cancelled waiter had never come.
func TestKeyedWaitCancelMovesUpExactly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kl, _ := NewKeyed[int](Every(time.Second), WithBurst(1))
		kl.Allow(1)
		rec := newKeyRecorder()
		ctx2, cancel2 := context.WithCancel(context.Background())
		rec.spawn(context.Background(), kl, 1, 1, 1)
		rec.spawn(ctx2, kl, 2, 1, 1)
		rec.spawn(context.Background(), kl, 3, 1, 1)
		time.Sleep(500 * time.Millisecond)
		cancel2()
		rec.wg.Wait()
		if !errors.Is(rec.errs[2], context.Canceled) || rec.at[2] != 500*time.Millisecond {
			t.Fatalf("cancelled waiter: %v at %s", rec.errs[2], rec.at[2])
		}
		if rec.errs[1] != nil || rec.at[1] != time.Second || rec.errs[3] != nil || rec.at[3] != 2*time.Second {
			t.Fatalf("waiters 1 and 3: %v at %s, %v at %s; want nil at 1s and 2s", rec.errs[1], rec.at[1], rec.errs[3], rec.at[3])
		}
		if kl.Allow(1) {
			t.Fatal("Allow right after waiter 3: the refund was too large")
		}
		time.Sleep(time.Second)
		if !kl.Allow(1) {
			t.Fatal("Allow one interval after waiter 3 denied: the refund was too small")
		}
	})
}

// TestKeyedWaitFailsFastTakesNothing: every refused WaitN returns at once and leaves the key as it was.
func TestKeyedWaitFailsFastTakesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kl, _ := NewKeyed[int](Every(time.Second), WithBurst(2))
		kl.AllowN(1, 2)
		rec := newKeyRecorder()
		rec.spawn(context.Background(), kl, 1, 1, 1) // due at 1s
		before, _ := kl.tatOf(1)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		if err := kl.Wait(ctx, 1); !errors.Is(err, ErrWouldExceedDeadline) || time.Since(start) != 0 {
			t.Fatalf("Wait behind a waiter with 1.5s left = %v after %s, want ErrWouldExceedDeadline at once", err, time.Since(start))
		}
		if err := kl.WaitN(context.Background(), 1, 3); !errors.Is(err, ErrExceedsBurst) {
			t.Fatalf("WaitN(3) over a burst of 2 = %v", err)
		}
		done, cancelDone := context.WithCancel(context.Background())
		cancelDone()
		if err := kl.Wait(done, 1); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait on a done ctx = %v", err)
		}
		if after, _ := kl.tatOf(1); after != before {
			t.Fatalf("refused calls changed the key: %d, before %d", after, before)
		}
		ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel2()
		if err := kl.Wait(ctx2, 1); err != nil || time.Since(start) != 2*time.Second {
			t.Fatalf("Wait with just enough time = %v after %s, want nil at 2s", err, time.Since(start))
		}
		rec.wg.Wait()
	})
}

// TestKeyedSetRateReplans speeds a key up while two callers sleep on it, as TestSetRateReplans does for a
// TokenBucket: at 50ms the admitted event still owes 0.95 of an event, 95ms at the new rate, then the waiters
// follow 100ms apart. A key nobody waits on has its debt converted the same way.
func TestKeyedSetRateReplans(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kl, _ := NewKeyed[int](Every(time.Second), WithBurst(1))
		kl.Allow(1)
		kl.Allow(2)
		rec := newKeyRecorder()
		rec.spawn(context.Background(), kl, 1, 1, 1)
		rec.spawn(context.Background(), kl, 2, 1, 1)
		time.Sleep(50 * time.Millisecond)
		if err := kl.SetRate(Rate{Limit: 10, Period: time.Second}); err != nil {
			t.Fatal(err)
		}
		if d := kl.AllowN(2, 1); d.Allowed || d.RetryAfter != 95*time.Millisecond {
			t.Fatalf("key without waiters after speeding up: %+v, want denied for 95ms", d)
		}
		rec.wg.Wait()
		if rec.errs[1] != nil || rec.errs[2] != nil || rec.at[1] != 145*time.Millisecond || rec.at[2] != 245*time.Millisecond {
			t.Fatalf("waiters: %v at %s, %v at %s; want nil at 145ms and 245ms", rec.errs[1], rec.at[1], rec.errs[2], rec.at[2])
		}
	})
}

// TestKeyedSetRateSlower slows a key down while callers sleep: they are pushed back, in order.
func TestKeyedSetRateSlower(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kl, _ := NewKeyed[int](PerSecond(10), WithBurst(1))
		kl.Allow(1)
		rec := newKeyRecorder()
		rec.spawn(context.Background(), kl, 1, 1, 1)
		rec.spawn(context.Background(), kl, 2, 1, 1)
		if err := kl.SetRate(PerSecond(1)); err != nil {
			t.Fatal(err)
		}
		rec.wg.Wait()
		// The admitted event owes a whole event, 1s at the new rate; the waiters follow one second apart.
		if rec.order[1][0] != 1 || rec.at[1] != time.Second || rec.at[2] != 2*time.Second {
			t.Fatalf("order %v, at %v; want 1 at 1s, 2 at 2s", rec.order[1], rec.at)
		}
	})
}

// TestKeyedSetRateFailsWaiterOverBurst: a waiter whose n no longer fits the new burst gets ErrExceedsBurst, and
// the one behind it moves up.
func TestKeyedSetRateFailsWaiterOverBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kl, _ := NewKeyed[int](PerSecond(4))
		kl.AllowN(1, 4)
		rec := newKeyRecorder()
		rec.spawn(context.Background(), kl, 1, 1, 3)
		rec.spawn(context.Background(), kl, 2, 1, 1)
		if err := kl.SetRate(PerSecond(2)); err != nil {
			t.Fatal(err)
		}
		rec.wg.Wait()
		if !errors.Is(rec.errs[1], ErrExceedsBurst) || rec.at[1] != 0 {
			t.Fatalf("waiter for 3 after the burst became 2: %v at %s", rec.errs[1], rec.at[1])
		}
		// The 4 admitted events owe 2s at the new rate; the waiter's event makes it 2.5s, usable a burst (1s) early.
		if rec.errs[2] != nil || rec.at[2] != 1500*time.Millisecond {
			t.Fatalf("waiter behind it: %v at %s, want nil at 1.5s", rec.errs[2], rec.at[2])
		}
	})
}

// TestKeyedSetRateFarSlowerKeepsTheDebt: the debt's conversion overflows 64 bits; it is capped, not wrapped.
func TestKeyedSetRateFarSlowerKeepsTheDebt(t *testing.T) {
	clk := &fakeClock{}
	kl, err := NewKeyed[int](PerSecond(1_000_000_000), clk.opt())
	if err != nil {
		t.Fatal(err)
	}
	if d := kl.AllowN(1, 1_000_000_000); !d.Allowed {
		t.Fatalf("draining the burst: %+v", d)
	}
	if err := kl.SetRate(Every(1 << 57)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(24 * time.Hour)
	if d := kl.AllowN(1, 1); d.Allowed || d.RetryAfter < 1<<56 {
		t.Fatalf("a day after slowing down a drained key: %+v, want denied for years", d)
	}
}

// TestKeyedSetRateForgetsIdleKeys: keys whose debt is repaid by the change are forgotten on the way.
func TestKeyedSetRateForgetsIdleKeys(t *testing.T) {
	clk := &fakeClock{}
	kl, _ := NewKeyed[int](Every(time.Second), clk.opt(), WithShards(1))
	for key := range 10 {
		kl.Allow(key)
	}
	clk.Advance(time.Second - time.Millisecond)
	if err := kl.SetRate(PerSecond(1000)); err != nil { // the last millisecond owed becomes a microsecond
		t.Fatal(err)
	}
	if kl.Len() != 10 {
		t.Fatalf("%d keys tracked right after SetRate, want 10", kl.Len())
	}
	clk.Advance(time.Microsecond)
	if err := kl.SetRate(PerSecond(1000)); err != nil {
		t.Fatal(err)
	}
	if kl.Len() != 0 || kl.Evictions() != 10 {
		t.Fatalf("%d keys tracked, %d evictions, want 0 and 10", kl.Len(), kl.Evictions())
	}
}
