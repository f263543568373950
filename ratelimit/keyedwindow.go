package ratelimit

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/sluice-go/sluice/internal/clock"
)

// KeyedSlidingWindow is a [SlidingWindow] per key: the two counters of a key and its window index take 16 bytes,
// stored inline in the same sharded, capped map as [Keyed]. A key whose two windows have both passed is
// indistinguishable from a new key and is forgotten without changing any decision; at the [WithMaxKeys] cap a
// new key is denied with [ErrTooManyKeys] rather than another key's counts being dropped.
//
// Use it when per-key quotas should read "N per window" (the IETF RateLimit fields' q and w) rather than a
// rate with a burst. Wait polls: it sleeps until the key's RetryAfter and asks again, so waiters on one key are
// not served in FIFO order.
//
// A KeyedSlidingWindow is safe for concurrent use. The zero value is not usable; make one with
// [NewKeyedSlidingWindow].
type KeyedSlidingWindow[K comparable] struct {
	clk    clock.Nanos
	window fixedState // period, limit and alignment shared by every key; only read
	keys   keyMap[windowCounts]
}

var _ KeyLimiter = (*KeyedSlidingWindow[string])(nil)

// windowCounts is one key's state: the index of its current window, and the counts of it and the one before.
type windowCounts struct {
	win       int64
	prev, cur int32
}

// NewKeyedSlidingWindow returns a per-key sliding-window counter of r.Limit events per r.Period per key
// (r.Limit at most 1<<31-1). It accepts [WithClock], [WithMaxKeys] and [WithShards].
func NewKeyedSlidingWindow[K comparable](r Rate, opts ...Option) (*KeyedSlidingWindow[K], error) {
	c := newConfig(opts)
	if c.set["WithBurst"] {
		return nil, fmt.Errorf("ratelimit: WithBurst: does not apply to KeyedSlidingWindow")
	}
	if err := c.check(kindKeyed, "KeyedSlidingWindow"); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if r.Limit > math.MaxInt32 {
		return nil, fmt.Errorf("ratelimit: Rate: KeyedSlidingWindow limit must be <= %d, got %d", math.MaxInt32, r.Limit)
	}
	kw := &KeyedSlidingWindow[K]{clk: clock.New(c.now)}
	kw.window = fixedState{period: int64(r.Period), limit: int64(r.Limit), epoch: kw.clk.At(0).UnixNano()}
	kw.window.off = kw.window.epoch % kw.window.period
	w := kw.window
	// Both counters are out of the sliding window once the window after the current one has ended.
	kw.keys = newKeyMap(&c, func(s windowCounts) int64 { return (s.win+2)*w.period - w.off })
	return kw, nil
}

// Allow reports whether one event may happen now for key, and counts it if so.
func (kw *KeyedSlidingWindow[K]) Allow(key K) bool {
	d, _ := kw.Limit(context.Background(), key, 1)
	return d.Allowed
}

// AllowN reports whether n events may happen now for key, counting them only if so. It panics if n < 0.
func (kw *KeyedSlidingWindow[K]) AllowN(key K, n int) Decision {
	d, _ := kw.Limit(context.Background(), key, n)
	return d
}

// Limit is AllowN with the reason of a denial that waiting cannot cure: an error matching [ErrExceedsBurst] (n
// over the quota) or [ErrTooManyKeys]. It never blocks; ctx is not used.
func (kw *KeyedSlidingWindow[K]) Limit(_ context.Context, key K, n int) (Decision, error) {
	if n < 0 {
		panic("ratelimit: negative n")
	}
	now := kw.clk.Now()
	s, h := locate(&kw.keys, key)
	s.mu.Lock()
	defer s.mu.Unlock()
	st, found := s.m[h]
	c := slidingState{fixedState: kw.window}
	if found {
		c.win, c.prev, c.count = st.win, int64(st.prev), int64(st.cur)
	} else {
		c.win = c.index(now) - 2
	}
	d := Decision{Limit: int(c.limit)}
	var err error
	switch {
	case int64(n) > c.limit:
		d.RetryAfter = Forever
		err = fmt.Errorf("%w: n=%d, limit=%d", ErrExceedsBurst, n, c.limit)
	case n == 0 && !found:
		d.Allowed = true
	default:
		if r := c.retry(now, n); r > 0 {
			d.RetryAfter = time.Duration(r)
			break
		}
		if !found && !kw.keys.room(s, now) {
			d.RetryAfter = time.Duration(max(1, s.earliest-now))
			return d, ErrTooManyKeys
		}
		c.take(now, n)
		st = windowCounts{win: c.win, prev: int32(c.prev), cur: int32(c.count)}
		s.m[h] = st
		if !found {
			s.earliest = min(s.earliest, kw.keys.idleAt(st))
		}
		d.Allowed = true
	}
	d.Remaining = c.remaining(now)
	d.ResetAfter = time.Duration(c.resetAfter(now))
	return d, err
}

// Wait is WaitN(ctx, key, 1).
func (kw *KeyedSlidingWindow[K]) Wait(ctx context.Context, key K) error { return kw.WaitN(ctx, key, 1) }

// WaitN sleeps until n events fit for key and counts them, or until ctx ends (taking nothing then). It fails
// at once with [ErrWouldExceedDeadline] when the next chance comes after ctx's deadline, and with
// [ErrExceedsBurst] or [ErrTooManyKeys] as [KeyedSlidingWindow.Limit] does.
func (kw *KeyedSlidingWindow[K]) WaitN(ctx context.Context, key K, n int) error {
	var t *time.Timer
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, err := kw.Limit(ctx, key, n)
		if d.Allowed || err != nil {
			return err
		}
		if dl, ok := ctx.Deadline(); ok && kw.clk.Time().Add(d.RetryAfter).After(dl) {
			return fmt.Errorf("%w: needs %s", ErrWouldExceedDeadline, d.RetryAfter)
		}
		if t == nil {
			t = time.NewTimer(d.RetryAfter)
			defer t.Stop()
		} else {
			t.Reset(d.RetryAfter)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Len returns how many keys are tracked now.
func (kw *KeyedSlidingWindow[K]) Len() int { return kw.keys.len() }
