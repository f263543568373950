package ratelimit

import (
	"context"
)

// FixedWindow admits at most Limit events per window of Period, windows being aligned on multiples of Period in
// Unix time (a per-minute window starts on the minute), so every instance agrees on the boundaries. It is the
// cheapest and the easiest to explain ("100 per minute, resetting on the minute"), but a client can get up to
// 2×Limit through in a short span around a boundary; use [SlidingWindow] or [SlidingWindowLog] when that matters.
//
// A FixedWindow is safe for concurrent use. The zero value is not usable; make one with [NewFixedWindow].
type FixedWindow struct {
	w windowed
}

var _ Limiter = (*FixedWindow)(nil)

type fixedState struct {
	period, limit int64
	epoch         int64 // Unix nanoseconds at the clock's zero
	off           int64 // epoch mod period, so that windows are aligned in Unix time
	win           int64 // index of the window count belongs to
	count         int64
}

// NewFixedWindow returns a limiter of r.Limit events per aligned window of r.Period. It accepts [WithClock].
func NewFixedWindow(r Rate, opts ...Option) (*FixedWindow, error) {
	c := newConfig(opts)
	if err := c.check(kindWindow, "FixedWindow"); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	f := &FixedWindow{}
	f.w.clk = newNanoClock(c.now)
	f.w.limit = r.Limit
	s := &fixedState{period: int64(r.Period), limit: int64(r.Limit), epoch: f.w.clk.At(0).UnixNano()}
	s.off = s.epoch % s.period
	s.win = s.index(0) - 1
	f.w.algo = s
	return f, nil
}

func (s *fixedState) index(now int64) int64 { return floorDiv(now+s.off, s.period) }

func (s *fixedState) current(now int64) (idx, count int64) {
	idx = s.index(now)
	if idx == s.win {
		return idx, s.count
	}
	return idx, 0
}

func (s *fixedState) retry(now int64, n int) int64 {
	idx, cnt := s.current(now)
	if cnt+int64(n) <= s.limit {
		return 0
	}
	return (idx+1)*s.period - s.off - now
}

func (s *fixedState) take(now int64, n int) {
	idx, cnt := s.current(now)
	s.win, s.count = idx, cnt+int64(n)
}

func (s *fixedState) remaining(now int64) int {
	_, cnt := s.current(now)
	return int(s.limit - cnt)
}

func (s *fixedState) resetAfter(now int64) int64 {
	idx, cnt := s.current(now)
	if cnt == 0 {
		return 0
	}
	return (idx+1)*s.period - s.off - now
}

func (s *fixedState) setRate(r Rate, now int64) error {
	_, cnt := s.current(now)
	s.period, s.limit = int64(r.Period), int64(r.Limit)
	s.off = s.epoch % s.period
	// What the current window has admitted keeps counting in the new current window.
	s.win, s.count = s.index(now), cnt
	return nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Allow reports whether one event may happen now, and counts it if so.
func (f *FixedWindow) Allow() bool { return f.w.allow() }

// AllowN reports whether n events fit in the current window, counting them only if so. Limit in the Decision is
// the per-window quota and ResetAfter the time to the window's end. It panics if n < 0.
func (f *FixedWindow) AllowN(n int) Decision { return f.w.allowN(n) }

// Wait is WaitN(ctx, 1).
func (f *FixedWindow) Wait(ctx context.Context) error { return f.w.waitN(ctx, 1) }

// WaitN blocks until n events fit, FIFO, or until ctx ends, taking nothing then. It returns an error matching
// [ErrExceedsBurst] when n exceeds Limit and [ErrWouldExceedDeadline] when ctx's deadline comes first.
func (f *FixedWindow) WaitN(ctx context.Context, n int) error { return f.w.waitN(ctx, n) }

// SetRate changes the quota and window length at once; what the current window admitted keeps counting, and
// waiters are re-planned.
func (f *FixedWindow) SetRate(r Rate) error { return f.w.setRate(r) }
