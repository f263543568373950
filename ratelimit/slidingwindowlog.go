package ratelimit

import (
	"context"
	"fmt"
	"sort"
)

// SlidingWindowLog is exact: it remembers the time of each of the last Limit events and admits an event only if
// fewer than Limit happened in the Period before it, so no interval of length Period ever holds more than Limit
// events. It costs 8 bytes per event of the quota (Limit is capped at 1<<24) and a mutex; prefer
// [SlidingWindow] for large quotas, [TokenBucket] for speed.
//
// A SlidingWindowLog is safe for concurrent use. The zero value is not usable; make one with
// [NewSlidingWindowLog].
type SlidingWindowLog struct {
	w windowed
}

var _ Limiter = (*SlidingWindowLog)(nil)

type logState struct {
	period int64
	ring   []int64 // times of the last len(ring) events, oldest at head
	head   int
	count  int // events in ring, <= len(ring)
	last   int64
}

// NewSlidingWindowLog returns an exact sliding-window limiter of r.Limit events per r.Period. It accepts
// [WithClock].
func NewSlidingWindowLog(r Rate, opts ...Option) (*SlidingWindowLog, error) {
	c := newConfig(opts)
	if err := c.check(kindWindow, "SlidingWindowLog"); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if r.Limit > maxLogLimit {
		return nil, fmt.Errorf("ratelimit: Rate: SlidingWindowLog keeps one entry per event, limit must be <= %d, got %d",
			maxLogLimit, r.Limit)
	}
	l := &SlidingWindowLog{}
	l.w.clk = newNanoClock(c.now)
	l.w.limit = r.Limit
	l.w.algo = &logState{period: int64(r.Period), ring: make([]int64, r.Limit)}
	return l, nil
}

// at returns the i-th oldest remembered event.
func (s *logState) at(i int) int64 { return s.ring[(s.head+i)%len(s.ring)] }

// inWindow counts remembered events after now−period.
func (s *logState) inWindow(now int64) int {
	from := now - s.period
	return s.count - sort.Search(s.count, func(i int) bool { return s.at(i) > from })
}

func (s *logState) retry(now int64, n int) int64 {
	// n more fit iff the (limit−n+1)-th most recent event is out of the window.
	k := len(s.ring) - n + 1
	if k > s.count {
		return 0
	}
	t := s.at(s.count - k)
	if t <= now-s.period {
		return 0
	}
	return t + s.period - now
}

func (s *logState) take(now int64, n int) {
	now = max(now, s.last) // keeps the ring sorted if an injected clock steps back
	s.last = now
	for range n {
		if s.count < len(s.ring) {
			s.ring[(s.head+s.count)%len(s.ring)] = now
			s.count++
		} else {
			s.ring[s.head] = now
			s.head = (s.head + 1) % len(s.ring)
		}
	}
}

func (s *logState) remaining(now int64) int { return len(s.ring) - s.inWindow(now) }

func (s *logState) resetAfter(now int64) int64 {
	if s.count == 0 {
		return 0
	}
	return max(0, s.at(s.count-1)+s.period-now)
}

func (s *logState) setRate(r Rate, now int64) error {
	if r.Limit > maxLogLimit {
		return fmt.Errorf("ratelimit: SetRate: SlidingWindowLog limit must be <= %d, got %d", maxLogLimit, r.Limit)
	}
	keep := min(s.count, r.Limit)
	ring := make([]int64, r.Limit)
	for i := range keep {
		ring[i] = s.at(s.count - keep + i)
	}
	s.ring, s.head, s.count, s.period = ring, 0, keep, int64(r.Period)
	return nil
}

// Allow reports whether one event may happen now, and records it if so.
func (l *SlidingWindowLog) Allow() bool { return l.w.allow() }

// AllowN reports whether n events fit in the last Period, recording them only if so. It panics if n < 0.
func (l *SlidingWindowLog) AllowN(n int) Decision { return l.w.allowN(n) }

// Wait is WaitN(ctx, 1).
func (l *SlidingWindowLog) Wait(ctx context.Context) error { return l.w.waitN(ctx, 1) }

// WaitN blocks until n events fit, FIFO, or until ctx ends, taking nothing then; errors as [FixedWindow.WaitN].
func (l *SlidingWindowLog) WaitN(ctx context.Context, n int) error { return l.w.waitN(ctx, n) }

// SetRate changes the quota and window at once; the most recent events are kept and waiters are re-planned.
func (l *SlidingWindowLog) SetRate(r Rate) error { return l.w.setRate(r) }
