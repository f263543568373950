package ratelimit

import (
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is a clock tests move by hand. Its zero is aligned on the hour, so windows start at 0.
type fakeClock struct{ ns atomic.Int64 }

var fakeBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (c *fakeClock) Now() time.Time          { return fakeBase.Add(time.Duration(c.ns.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *fakeClock) Elapsed() time.Duration  { return time.Duration(c.ns.Load()) }
func (c *fakeClock) Set(d time.Duration)     { c.ns.Store(int64(d)) }
func (c *fakeClock) opt() Option             { return WithClock(c.Now) }

// algorithm builds one of the five limiters on a clock, for tests that run on all of them.
type algorithm struct {
	name string
	make func(r Rate, opts ...Option) (Limiter, error)
}

var algorithms = []algorithm{
	{"tokenbucket", func(r Rate, o ...Option) (Limiter, error) { return NewTokenBucket(r, o...) }},
	{"leakybucket", func(r Rate, o ...Option) (Limiter, error) { return NewLeakyBucket(r, o...) }},
	{"fixedwindow", func(r Rate, o ...Option) (Limiter, error) { return NewFixedWindow(r, o...) }},
	{"slidingwindowlog", func(r Rate, o ...Option) (Limiter, error) { return NewSlidingWindowLog(r, o...) }},
	{"slidingwindow", func(r Rate, o ...Option) (Limiter, error) { return NewSlidingWindow(r, o...) }},
}

// mustLimiter builds a; a LeakyBucket gets room for 64 waiting events, as tests queue more than one period.
// spacing is how many periods apart a saturated limiter of one event per period serves waiters: the
// sliding-window counter still weighs the previous window's event until that window has fully slid by.
func (a algorithm) spacing() time.Duration {
	if a.name == "slidingwindow" {
		return 2
	}
	return 1
}

func mustLimiter(t testing.TB, a algorithm, r Rate, opts ...Option) Limiter {
	t.Helper()
	if a.name == "leakybucket" {
		opts = append([]Option{WithMaxQueue(64)}, opts...)
	}
	l, err := a.make(r, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
