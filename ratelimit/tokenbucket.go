package ratelimit

import (
	"context"
	"fmt"
)

// TokenBucket admits Limit events per Period on average, and up to a burst of events at once after being idle
// ([WithBurst], default Limit). It is GCRA on one atomic word: Allow and AllowN never lock and never allocate,
// and a denial only reads. Waiters reserve their slot in arrival order, so they are served FIFO and an Allow
// never jumps ahead of them.
//
// A TokenBucket is safe for concurrent use. The zero value is not usable; make one with [NewTokenBucket].
type TokenBucket struct {
	g gcra
}

var _ Limiter = (*TokenBucket)(nil)

// NewTokenBucket returns a token bucket refilling r.Limit tokens per r.Period, full at creation.
// It accepts [WithBurst], [WithClock] and [WithMaxQueue].
func NewTokenBucket(r Rate, opts ...Option) (*TokenBucket, error) {
	c := newConfig(opts)
	if err := c.check(kindTokenBucket, "TokenBucket"); err != nil {
		return nil, err
	}
	b := &TokenBucket{}
	err := b.g.init(r, &c, func(r Rate) int { return r.Limit }, func(Rate) int { return 0 })
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Allow reports whether one event may happen now, and takes a token if so.
func (b *TokenBucket) Allow() bool { return b.g.allow() }

// AllowN reports whether n events may happen now, taking n tokens only if so. When n exceeds the burst the
// Decision is denied with RetryAfter [Forever]. Limit in the Decision is the burst. It panics if n < 0.
func (b *TokenBucket) AllowN(n int) Decision { return b.g.allowN(n) }

// Wait is WaitN(ctx, 1).
func (b *TokenBucket) Wait(ctx context.Context) error { return b.g.waitN(ctx, 1) }

// WaitN blocks until n tokens are available and takes them, or until ctx ends. Waiters are served in the order
// they arrived. It returns, without taking anything:
//   - ctx.Err() if ctx is done on entry, or ends while waiting (what was reserved is given back exactly, and
//     later waiters move up);
//   - an error matching [ErrWouldExceedDeadline] when ctx's deadline comes before the tokens would;
//   - an error matching [ErrExceedsBurst] when n exceeds the burst;
//   - [ErrQueueFull] when [WithMaxQueue] would be exceeded.
//
// If ctx ends at the very moment the tokens become available, WaitN returns nil: the tokens were taken.
func (b *TokenBucket) WaitN(ctx context.Context, n int) error { return b.g.waitN(ctx, n) }

// SetRate changes the rate at once. Events already admitted keep counting (as events, repaid at the new rate),
// and sleeping waiters are re-planned under the new rate in the same order; a waiter whose n no longer fits the
// burst gets [ErrExceedsBurst]. Unless [WithBurst] was given, the burst follows the new Limit. Calls racing with
// SetRate are judged by the old or the new rate.
func (b *TokenBucket) SetRate(r Rate) error { return b.g.setParams(r, 0) }

// SetBurst changes the burst at once, re-planning waiters as [TokenBucket.SetRate] does.
func (b *TokenBucket) SetBurst(n int) error {
	if n < 1 {
		return fmt.Errorf("ratelimit: SetBurst: burst must be >= 1, got %d", n)
	}
	r, _ := b.g.rate()
	return b.g.setParams(r, n)
}

// Rate returns the current rate and burst.
func (b *TokenBucket) Rate() (r Rate, burst int) { return b.g.rate() }
