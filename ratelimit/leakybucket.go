package ratelimit

import (
	"context"
	"fmt"
)

// LeakyBucket is a pacer: it spaces events evenly, Period/Limit apart, instead of letting them through in
// bursts. Wait pauses each caller until its slot; at most [WithMaxQueue] events (default Limit, one period of
// backlog) may be waiting, beyond which WaitN fails at once with [ErrQueueFull]. [WithBurst] sets the slack: how
// many events may go back to back after an idle spell (default 1: strict spacing).
//
// It is the leaky bucket "as a meter" (GCRA with a burst of one), so Allow reports whether the current slot is
// free, lock-free and without allocating.
//
// A LeakyBucket is safe for concurrent use. The zero value is not usable; make one with [NewLeakyBucket].
type LeakyBucket struct {
	g gcra
}

var _ Limiter = (*LeakyBucket)(nil)

// NewLeakyBucket returns a pacer letting r.Limit events per r.Period through, evenly spaced.
// It accepts [WithBurst] (the slack), [WithClock] and [WithMaxQueue].
func NewLeakyBucket(r Rate, opts ...Option) (*LeakyBucket, error) {
	c := newConfig(opts)
	if err := c.check(kindLeakyBucket, "LeakyBucket"); err != nil {
		return nil, err
	}
	b := &LeakyBucket{}
	if err := b.g.init(r, &c, func(Rate) int { return 1 }, func(r Rate) int { return r.Limit }); err != nil {
		return nil, err
	}
	if c.burst == 0 {
		b.g.burstFixed = true // the slack stays 1 across SetRate unless set
	}
	return b, nil
}

// Allow reports whether an event may happen now, in the current slot, and takes the slot if so.
func (b *LeakyBucket) Allow() bool { return b.g.allow() }

// AllowN reports whether n events may happen now, which needs n free slots of slack. Limit in the Decision is
// the slack. It panics if n < 0.
func (b *LeakyBucket) AllowN(n int) Decision { return b.g.allowN(n) }

// Wait blocks until the caller's slot, or until ctx ends; see [LeakyBucket.WaitN].
func (b *LeakyBucket) Wait(ctx context.Context) error { return b.g.waitN(ctx, 1) }

// WaitN blocks until n events may happen at once, FIFO, or until ctx ends. n events at once need n slots of
// slack, so n above the slack ([WithBurst], default 1) is an error matching [ErrExceedsBurst]; pace n events with
// n calls to Wait instead. Errors and cancellation behave as for [TokenBucket.WaitN].
func (b *LeakyBucket) WaitN(ctx context.Context, n int) error { return b.g.waitN(ctx, n) }

// SetRate changes the spacing at once, re-planning sleeping waiters in order (see [TokenBucket.SetRate]).
func (b *LeakyBucket) SetRate(r Rate) error { return b.g.setParams(r, 0) }

// SetSlack changes how many events may go back to back, re-planning waiters.
func (b *LeakyBucket) SetSlack(n int) error {
	if n < 1 {
		return fmt.Errorf("ratelimit: SetSlack: slack must be >= 1, got %d", n)
	}
	r, _ := b.g.rate()
	return b.g.setParams(r, n)
}

// Rate returns the current rate and slack.
func (b *LeakyBucket) Rate() (r Rate, slack int) { return b.g.rate() }
