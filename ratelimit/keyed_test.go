package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var _ KeyLimiter = (*Keyed[string])(nil)

func TestKeyedIndependentKeys(t *testing.T) {
	clk := &fakeClock{}
	k, err := NewKeyed[string](PerSecond(2), clk.opt())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "b"} {
		for i := range 3 {
			if got, want := k.Allow(key), i < 2; got != want {
				t.Fatalf("key %s call %d: Allow = %v, want %v", key, i, got, want)
			}
		}
	}
	d, err := k.Limit(context.Background(), "a", 1)
	if err != nil || d.Allowed || d.Limit != 2 || d.Remaining != 0 || d.RetryAfter != 500*time.Millisecond ||
		d.ResetAfter != time.Second {
		t.Fatalf("Limit on an exhausted key = %+v, %v", d, err)
	}
	if _, err := k.Limit(context.Background(), "a", 3); !errors.Is(err, ErrExceedsBurst) {
		t.Fatalf("Limit(n > burst) = %v, want ErrExceedsBurst", err)
	}
	clk.Advance(500 * time.Millisecond)
	if d := k.AllowN("a", 1); !d.Allowed || d.Remaining != 0 || d.ResetAfter != time.Second {
		t.Fatalf("AllowN after one interval = %+v", d)
	}
}

// TestKeyedEvictionChangesNoDecision runs the same random traffic through a limiter that may keep every key and
// one capped at a handful: forgetting keys at full quota must not change a single decision.
func TestKeyedEvictionChangesNoDecision(t *testing.T) {
	clk := &fakeClock{}
	r := Rate{Limit: 3, Period: 100 * time.Millisecond}
	all, _ := NewKeyed[int](r, clk.opt(), WithShards(1))
	capped, _ := NewKeyed[int](r, clk.opt(), WithShards(1), WithMaxKeys(120))
	rng := rand.New(rand.NewPCG(3, 4))
	tooMany := 0
	for i := range 200_000 {
		clk.Advance(time.Duration(rng.IntN(20)) * 10 * time.Microsecond)
		key, n := rng.IntN(200), 1+rng.IntN(2)
		b, err := capped.Limit(context.Background(), key, n)
		if errors.Is(err, ErrTooManyKeys) { // refused at the cap: the other limiter does not see the call either
			tooMany++
			if b.Allowed {
				t.Fatal("a denied new key was allowed")
			}
			continue
		}
		a := all.AllowN(key, n)
		if a != b {
			t.Fatalf("call %d, key %d: with eviction %+v, without %+v", i, key, b, a)
		}
	}
	if capped.Evictions() == 0 || capped.Len() > 120 {
		t.Fatalf("evictions %d, len %d: the cap of 120 was not exercised", capped.Evictions(), capped.Len())
	}
	t.Logf("%d evictions, %d new keys denied at the cap", capped.Evictions(), tooMany)
}

// TestKeyedFullOfBusyKeys fills the cap with keys that are not at full quota: a new key is denied (a busy key's
// state is never dropped, which would reset its limit), and admitted once a key is back at full quota.
func TestKeyedFullOfBusyKeys(t *testing.T) {
	clk := &fakeClock{}
	k, _ := NewKeyed[string](Every(time.Second), clk.opt(), WithMaxKeys(4), WithShards(1))
	for i := range 4 {
		k.Allow(strconv.Itoa(i))
	}
	d, err := k.Limit(context.Background(), "new", 1)
	if !errors.Is(err, ErrTooManyKeys) || d.Allowed || d.RetryAfter != time.Second {
		t.Fatalf("new key at the cap = %+v, %v; want denied with ErrTooManyKeys, retry in 1s", d, err)
	}
	if k.Allow("0") {
		t.Fatal("a busy key was reset to full quota")
	}
	clk.Advance(time.Second)
	if d, err := k.Limit(context.Background(), "new", 1); err != nil || !d.Allowed {
		t.Fatalf("new key once others are idle = %+v, %v", d, err)
	}
}

// TestKeyedFloodMemory sends a million distinct keys at a limiter capped at 10,000: the number of tracked keys and
// the heap stay bounded.
func TestKeyedFloodMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("floods a million keys")
	}
	clk := &fakeClock{}
	const maxKeys = 10_000
	k, _ := NewKeyed[string](PerMinute(10), clk.opt(), WithMaxKeys(maxKeys))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	key := make([]byte, 0, 16)
	admitted := 0
	for i := range 1_000_000 {
		key = strconv.AppendInt(key[:0], int64(i), 36)
		if k.Allow(string(key)) {
			admitted++
		}
		if i%1000 == 0 {
			clk.Advance(time.Millisecond)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("1M distinct keys, cap %d: %d tracked, %d admitted, heap grew %d KiB", maxKeys, k.Len(), admitted, grown/1024)
	if k.Len() > maxKeys {
		t.Fatalf("%d keys tracked, cap %d", k.Len(), maxKeys)
	}
	if grown > 4<<20 {
		t.Fatalf("heap grew %d bytes for a cap of %d keys", grown, maxKeys)
	}
}

// TestKeyedBytesPerKey measures the memory of live keys (key contents not counted).
func TestKeyedBytesPerKey(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocates a million keys; heap sizes mean nothing under the race detector")
	}
	const n = 1_000_000
	for _, tc := range []struct {
		name string
		run  func() (any, func(int))
	}{
		{"uint64", func() (any, func(int)) {
			k, _ := NewKeyed[uint64](PerMinute(10), WithMaxKeys(n))
			return k, func(i int) { k.Allow(uint64(i)) }
		}},
		{"string", func() (any, func(int)) {
			k, _ := NewKeyed[string](PerMinute(10), WithMaxKeys(n))
			keys := make([]string, n) // built before measuring: the key bytes are the caller's
			for i := range keys {
				keys[i] = fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)
			}
			return k, func(i int) { k.Allow(keys[i]) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, allow := tc.run()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := range n {
				allow(i)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
			runtime.KeepAlive(k)
			runtime.KeepAlive(allow)
			t.Logf("%s keys: %.1f bytes per live key, map included (key strings are not retained)", tc.name, per)
			if per > 64 {
				t.Fatalf("%.1f bytes per key, target <= 64", per)
			}
		})
	}
}

func TestKeyedWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k, _ := NewKeyed[string](Every(time.Second), WithBurst(1))
		start := time.Now()
		k.Allow("a")
		if err := k.Wait(context.Background(), "a"); err != nil || time.Since(start) != time.Second {
			t.Fatalf("Wait = %v after %s", err, time.Since(start))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		if err := k.Wait(ctx, "a"); !errors.Is(err, ErrWouldExceedDeadline) {
			t.Fatalf("Wait past the deadline = %v", err)
		}
		ctx2, cancel2 := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- k.Wait(ctx2, "a") }()
		synctest.Wait()
		cancel2()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Wait = %v", err)
		}
		if err := k.Wait(context.Background(), "a"); err != nil || time.Since(start) != 2*time.Second {
			t.Fatalf("Wait after a refunded cancel = %v after %s, want 2s", err, time.Since(start))
		}
	})
}

func TestKeyedWaitFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k, _ := NewKeyed[string](Every(100*time.Millisecond), WithBurst(1))
		k.Allow("a")
		start := time.Now()
		var mu sync.Mutex
		var order []int
		var wg sync.WaitGroup
		for id := range 4 {
			wg.Go(func() {
				if err := k.Wait(context.Background(), "a"); err != nil {
					t.Error(err)
				}
				mu.Lock()
				order = append(order, id)
				mu.Unlock()
			})
			synctest.Wait()
		}
		wg.Wait()
		if !slices.Equal(order, []int{0, 1, 2, 3}) || time.Since(start) != 400*time.Millisecond {
			t.Fatalf("order %v after %s, want FIFO over 400ms", order, time.Since(start))
		}
		if d := k.AllowN("new", 0); !d.Allowed || k.Len() != 1 {
			t.Fatalf("AllowN(new key, 0) = %+v with %d keys: it must not store the key", d, k.Len())
		}
	})
}

// TestKeyedWaitCancelUnderAStackedWaiter cancels a waiter with another one stacked behind it on the same key: it
// gives back exactly what it reserved, and the stacked waiter moves up into its slot.
func TestKeyedWaitCancelUnderAStackedWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k, _ := NewKeyed[string](Every(time.Second), WithBurst(1))
		start := time.Now()
		k.Allow("a")
		ctx1, cancel1 := context.WithCancel(context.Background())
		errs := make(chan error, 2)
		go func() { errs <- k.Wait(ctx1, "a") }() // due at 1s
		synctest.Wait()
		go func() { errs <- k.Wait(context.Background(), "a") }() // due at 2s
		synctest.Wait()
		time.Sleep(500 * time.Millisecond)
		cancel1()
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Wait = %v", err)
		}
		if err := <-errs; err != nil || time.Since(start) != time.Second {
			t.Fatalf("stacked Wait = %v after %s, want nil at 1s", err, time.Since(start))
		}
		if k.Allow("a") {
			t.Fatal("Allow at 1s admitted: the refund was too large")
		}
		time.Sleep(time.Second)
		if !k.Allow("a") {
			t.Fatal("Allow at 2s denied: the refund was too small")
		}
	})
}
