package ratelimit

import (
	"context"
	"errors"
	"math/rand/v2"
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
