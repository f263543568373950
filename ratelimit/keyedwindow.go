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
// rate with a burst. Waiting behaves as on a [SlidingWindow], per key: waiters on a key are served in FIFO order
// (the first sleeps until its events fit, the others until their turn) and Allow never jumps ahead of them; a
// waiter whose ctx ends has taken nothing. A key's waiters are kept out of line, only while it has any.
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
// over the quota) or [ErrTooManyKeys]. It never blocks; ctx is not used. While key has waiters it denies, so that
// they are not starved by callers that never queue.
func (kw *KeyedSlidingWindow[K]) Limit(_ context.Context, key K, n int) (Decision, error) {
	if n < 0 {
		panic("ratelimit: negative n")
	}
	now := kw.clk.Now()
	s, h := locate(&kw.keys, key)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, found := kw.load(s, h, now)
	d := Decision{Limit: int(c.limit)}
	var err error
	switch {
	case int64(n) > c.limit:
		d.RetryAfter = Forever
		err = fmt.Errorf("%w: n=%d, limit=%d", ErrExceedsBurst, n, c.limit)
	case n == 0 && !found:
		d.Allowed = true
	default:
		if l := s.waitsOf(h); l != nil {
			d.RetryAfter = time.Duration(max(1, c.retry(now, min(int(c.limit), n+l.events))))
			break
		}
		if r := c.retry(now, n); r > 0 {
			d.RetryAfter = time.Duration(r)
			break
		}
		if r, ok := kw.take(s, h, &c, found, now, n); !ok {
			d.RetryAfter = time.Duration(r)
			return d, ErrTooManyKeys
		}
		d.Allowed = true
	}
	d.Remaining = c.remaining(now)
	d.ResetAfter = time.Duration(c.resetAfter(now))
	return d, err
}

// load returns key h's state at now, and whether the key is tracked. Called with s.mu held.
func (kw *KeyedSlidingWindow[K]) load(s *keyShard[windowCounts], h uint64, now int64) (slidingState, bool) {
	st, found := s.m[h]
	c := slidingState{fixedState: kw.window}
	if found {
		c.win, c.prev, c.count = st.win, int64(st.prev), int64(st.cur)
	} else {
		c.win = c.index(now) - 2
	}
	return c, found
}

// take counts n events for key h, whose state at now is c. A new key needs room under the cap: without it, take
// counts nothing and returns false with how long until a key may be forgotten. Called with s.mu held.
func (kw *KeyedSlidingWindow[K]) take(s *keyShard[windowCounts], h uint64, c *slidingState, found bool, now int64, n int) (int64, bool) {
	if !found && !kw.keys.room(s, now) {
		return max(1, s.earliest-now), false
	}
	c.take(now, n)
	st := windowCounts{win: c.win, prev: int32(c.prev), cur: int32(c.count)}
	s.m[h] = st
	if !found {
		s.earliest = min(s.earliest, kw.keys.idleAt(st))
	}
	return 0, true
}

// Wait is WaitN(ctx, key, 1).
func (kw *KeyedSlidingWindow[K]) Wait(ctx context.Context, key K) error { return kw.WaitN(ctx, key, 1) }

// WaitN blocks until n events fit for key and counts them, or until ctx ends. Waiters on a key are served in the
// order they arrived: the first sleeps until its events fit, the others until the one ahead has been served. It
// returns, without counting anything:
//   - ctx.Err() if ctx is done on entry, or ends while waiting (the waiters behind move up);
//   - an error matching [ErrWouldExceedDeadline] when ctx's deadline comes before the events (and those of the
//     waiters ahead) could fit;
//   - an error matching [ErrExceedsBurst] when n exceeds the quota;
//   - [ErrTooManyKeys] when key is new and the [WithMaxKeys] cap is reached.
func (kw *KeyedSlidingWindow[K]) WaitN(ctx context.Context, key K, n int) error {
	if n < 0 {
		panic("ratelimit: WaitN: negative n")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s, h := locate(&kw.keys, key)
	s.mu.Lock()
	now := kw.clk.Now()
	c, found := kw.load(s, h, now)
	if int64(n) > c.limit {
		s.mu.Unlock()
		return fmt.Errorf("%w: n=%d, limit=%d", ErrExceedsBurst, n, c.limit)
	}
	queued := 0
	if l := s.waitsOf(h); l != nil {
		queued = l.events
	} else if c.retry(now, n) == 0 {
		var err error
		if n > 0 || found {
			if _, ok := kw.take(s, h, &c, found, now, n); !ok {
				err = ErrTooManyKeys
			}
		}
		s.mu.Unlock()
		return err
	}
	// Those ahead must be served first, so the wait is at least what all of it would need at once.
	if dl, ok := ctx.Deadline(); ok {
		if lb := c.retry(now, min(int(c.limit), n+queued)); kw.clk.At(now + lb).After(dl) {
			s.mu.Unlock()
			return fmt.Errorf("%w: n=%d needs at least %s", ErrWouldExceedDeadline, n, time.Duration(lb))
		}
	}
	w := &waiter{n: n, wake: make(chan struct{}, 1)}
	l := s.enqueue(h, w) // the same list while w is in it: a key's list is dropped only once empty
	var t *time.Timer
	for {
		var timer <-chan time.Time
		if l.head == w {
			c, found = kw.load(s, h, now)
			r := c.retry(now, n)
			if r == 0 {
				var err error
				if _, ok := kw.take(s, h, &c, found, now, n); !ok { // cannot happen: a queued key is never forgotten
					err = ErrTooManyKeys
				}
				kw.dequeue(s, h, w)
				s.mu.Unlock()
				return err
			}
			if t == nil {
				t = time.NewTimer(time.Duration(r))
				defer t.Stop()
			} else {
				t.Reset(time.Duration(r))
			}
			timer = t.C
		}
		s.mu.Unlock()
		select {
		case <-timer:
		case <-w.wake:
		case <-ctx.Done():
			s.mu.Lock()
			kw.dequeue(s, h, w) // nothing was taken, so nothing is given back
			s.mu.Unlock()
			return ctx.Err()
		}
		s.mu.Lock()
		now = kw.clk.Now()
	}
}

// dequeue removes w from key h's waiters and lets the next one look at the state. Called with s.mu held.
func (kw *KeyedSlidingWindow[K]) dequeue(s *keyShard[windowCounts], h uint64, w *waiter) {
	if l := s.dequeue(h, w); l != nil {
		l.head.signal()
	}
}

// Len returns how many keys are tracked now.
func (kw *KeyedSlidingWindow[K]) Len() int { return kw.keys.len() }
