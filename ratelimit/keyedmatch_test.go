package ratelimit

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestKeyedWaitMatchesTokenBucket runs one random script of waits (some cancelled, some with deadlines), Allows
// and rate changes on three keys of a Keyed and on one TokenBucket per key: every call must return the same
// thing at the same moment, so waiting on a key is waiting on a token bucket, refunds and re-plans included.
func TestKeyedWaitMatchesTokenBucket(t *testing.T) {
	rates := []Rate{{Limit: 3, Period: 100 * time.Millisecond}, {Limit: 1, Period: 50 * time.Millisecond},
		{Limit: 2, Period: 100 * time.Millisecond}, {Limit: 6, Period: 100 * time.Millisecond}}
	for seed := range uint64(4) {
		synctest.Test(t, func(t *testing.T) {
			kl, _ := NewKeyed[int](rates[0])
			var each [3]*TokenBucket
			for i := range each {
				each[i], _ = NewTokenBucket(rates[0])
			}
			keyed := keyedAsLimiter{kl}
			matchScript(t, seed, func(key int) (Limiter, Limiter) { return keyed.on(key), each[key] },
				func(r Rate) error { return errors.Join(kl.SetRate(r), setAll(each[:], r)) }, rates)
		})
	}
}

// TestKeyedSlidingWindowWaitMatchesSlidingWindow is TestKeyedWaitMatchesTokenBucket for a KeyedSlidingWindow
// against one SlidingWindow per key, whose waiting is FIFO and takes nothing until served.
func TestKeyedSlidingWindowWaitMatchesSlidingWindow(t *testing.T) {
	r := Rate{Limit: 4, Period: 100 * time.Millisecond}
	for seed := range uint64(4) {
		synctest.Test(t, func(t *testing.T) {
			kw, _ := NewKeyedSlidingWindow[int](r)
			var each [3]*SlidingWindow
			for i := range each {
				each[i], _ = NewSlidingWindow(r)
			}
			keyed := keyedAsLimiter{kw}
			matchScript(t, seed, func(key int) (Limiter, Limiter) { return keyed.on(key), each[key] }, nil, nil)
		})
	}
}

func setAll(bs []*TokenBucket, r Rate) error {
	for _, b := range bs {
		if err := b.SetRate(r); err != nil {
			return err
		}
	}
	return nil
}

// keyedAsLimiter views one key of a keyed limiter as a Limiter.
type keyedAsLimiter struct{ l keyWaiter }

func (k keyedAsLimiter) on(key int) Limiter { return oneKey{k.l, key} }

type oneKey struct {
	l   keyWaiter
	key int
}

func (o oneKey) Allow() bool                            { return o.l.AllowN(o.key, 1).Allowed }
func (o oneKey) AllowN(n int) Decision                  { return o.l.AllowN(o.key, n) }
func (o oneKey) Wait(ctx context.Context) error         { return o.l.WaitN(ctx, o.key, 1) }
func (o oneKey) WaitN(ctx context.Context, n int) error { return o.l.WaitN(ctx, o.key, n) }

// errKind classifies an error so that two limiters' errors can be compared whatever their messages.
func errKind(err error) string {
	for _, e := range []error{context.Canceled, context.DeadlineExceeded, ErrWouldExceedDeadline, ErrExceedsBurst, ErrTooManyKeys} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return "nil"
}

// matchScript plays a random script of 300 steps on pairs of limiters (a keyed limiter's key, and a single
// limiter standing for it) and fails at the first difference. Every step happens once the bubble is idle, so
// nothing depends on how goroutines woken at the same instant are scheduled; cancellation instants are whole
// milliseconds plus 4 to 8µs, which no wake-up instant of the limiters used here can be.
// setRate, if not nil, changes both sides to one of rates.
func matchScript(t *testing.T, seed uint64, pair func(key int) (Limiter, Limiter), setRate func(Rate) error, rates []Rate) {
	rng := rand.New(rand.NewPCG(seed, 11))
	start := time.Now()
	type result struct {
		err string
		at  time.Duration
	}
	var mu sync.Mutex
	results := [2]map[int]result{{}, {}}
	var wg sync.WaitGroup
	elapsed := time.Duration(0)
	for id := range 300 {
		elapsed += time.Duration(1+rng.IntN(25)) * time.Millisecond
		time.Sleep(time.Until(start.Add(elapsed + time.Duration(1+id%3)*time.Microsecond)))
		synctest.Wait()
		key := rng.IntN(3)
		a, b := pair(key)
		switch op := rng.IntN(20); {
		case op < 15:
			n := rng.IntN(4)
			after := time.Duration(1+rng.IntN(400))*time.Millisecond + 3*time.Microsecond
			kind := rng.IntN(3) // wait for ever, be cancelled after, have a deadline after
			for side, l := range []Limiter{a, b} {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				switch kind {
				case 1:
					ctx, cancel = context.WithCancel(ctx)
					stop := time.AfterFunc(after, cancel)
					cancel = func() { stop.Stop() }
				case 2:
					ctx, cancel = context.WithTimeout(ctx, after)
				}
				wg.Go(func() {
					defer cancel()
					err := l.WaitN(ctx, n)
					mu.Lock()
					results[side][id] = result{errKind(err), time.Since(start)}
					mu.Unlock()
				})
			}
			synctest.Wait()
		case op < 19:
			n := rng.IntN(3)
			if da, db := a.AllowN(n), b.AllowN(n); da != db {
				t.Fatalf("step %d (seed %d), AllowN(%d) on key %d: keyed %+v, alone %+v", id, seed, n, key, da, db)
			}
		case setRate != nil:
			r := rates[rng.IntN(len(rates))]
			if err := setRate(r); err != nil {
				t.Fatalf("SetRate(%s): %v", r, err)
			}
		}
	}
	wg.Wait()
	for id, want := range results[1] {
		if got := results[0][id]; got != want {
			t.Fatalf("waiter %d (seed %d): keyed %+v, alone %+v", id, seed, got, want)
		}
	}
	errs := map[string]int{}
	for _, r := range results[1] {
		errs[r.err]++
	}
	t.Logf("seed %d: %d waits, outcomes %v", seed, len(results[1]), errs)
}
