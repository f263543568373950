package ratelimit

import (
	"math/bits"
	"math/rand/v2"
	"testing"
	"time"
)

func TestOptionErrors(t *testing.T) {
	r := PerSecond(10)
	for _, tc := range []struct {
		name string
		make func() error
		want string
	}{
		{"burst 0", func() error { _, err := NewTokenBucket(r, WithBurst(0)); return err },
			"ratelimit: WithBurst: burst must be >= 1, got 0"},
		{"queue -1", func() error { _, err := NewLeakyBucket(r, WithMaxQueue(-1)); return err },
			"ratelimit: WithMaxQueue: queue must be >= 1, got -1"},
		{"max keys 0", func() error { _, err := NewKeyed[string](r, WithMaxKeys(0)); return err },
			"ratelimit: WithMaxKeys: max keys must be >= 1, got 0"},
		{"shards 3", func() error { _, err := NewKeyed[string](r, WithShards(3)); return err },
			"ratelimit: WithShards: shards must be a power of two, got 3"},
		{"burst on a window", func() error { _, err := NewFixedWindow(r, WithBurst(2)); return err },
			"ratelimit: WithBurst: does not apply to FixedWindow"},
		{"max keys on a bucket", func() error { _, err := NewTokenBucket(r, WithMaxKeys(2)); return err },
			"ratelimit: WithMaxKeys: does not apply to TokenBucket"},
		{"zero rate", func() error { _, err := NewSlidingWindow(Rate{}); return err },
			"ratelimit: Rate: limit must be >= 1, got 0"},
		{"zero period", func() error { _, err := NewSlidingWindowLog(Rate{Limit: 1}); return err },
			"ratelimit: Rate: period must be > 0, got 0s"},
		{"huge log", func() error { _, err := NewSlidingWindowLog(PerSecond(1 << 25)); return err },
			"ratelimit: Rate: SlidingWindowLog keeps one entry per event, limit must be <= 16777216, got 33554432"},
		{"first error wins", func() error { _, err := NewTokenBucket(r, WithBurst(-1), WithBurst(0)); return err },
			"ratelimit: WithBurst: burst must be >= 1, got -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.make()
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestDecisions checks every field of the Decision of each algorithm on a fake clock.
func TestDecisions(t *testing.T) {
	ms := time.Millisecond
	type step struct {
		at   time.Duration // clock before the call
		n    int
		want Decision
	}
	for _, tc := range []struct {
		name  string
		make  func(*fakeClock) Limiter
		steps []step
	}{
		{"tokenbucket", func(c *fakeClock) Limiter { l, _ := NewTokenBucket(PerSecond(10), c.opt()); return l }, []step{
			{0, 3, Decision{Allowed: true, Limit: 10, Remaining: 7, ResetAfter: 300 * ms}},
			{0, 8, Decision{Limit: 10, Remaining: 7, RetryAfter: 100 * ms, ResetAfter: 300 * ms}},
			{150 * ms, 0, Decision{Allowed: true, Limit: 10, Remaining: 8, ResetAfter: 150 * ms}},
			{150 * ms, 11, Decision{Limit: 10, Remaining: 8, RetryAfter: Forever, ResetAfter: 150 * ms}},
			{time.Second, 0, Decision{Allowed: true, Limit: 10, Remaining: 10}},
		}},
		{"tokenbucket 3/s", func(c *fakeClock) Limiter { l, _ := NewTokenBucket(PerSecond(3), c.opt()); return l }, []step{
			{0, 3, Decision{Allowed: true, Limit: 3, Remaining: 0, ResetAfter: time.Second}},
			{0, 1, Decision{Limit: 3, Remaining: 0, RetryAfter: 333333334, ResetAfter: time.Second}},
		}},
		{"leakybucket", func(c *fakeClock) Limiter { l, _ := NewLeakyBucket(PerSecond(10), c.opt()); return l }, []step{
			{0, 1, Decision{Allowed: true, Limit: 1, Remaining: 0, ResetAfter: 100 * ms}},
			{40 * ms, 1, Decision{Limit: 1, Remaining: 0, RetryAfter: 60 * ms, ResetAfter: 60 * ms}},
		}},
		{"fixedwindow", func(c *fakeClock) Limiter { l, _ := NewFixedWindow(PerSecond(10), c.opt()); return l }, []step{
			{250 * ms, 3, Decision{Allowed: true, Limit: 10, Remaining: 7, ResetAfter: 750 * ms}},
			{250 * ms, 8, Decision{Limit: 10, Remaining: 7, RetryAfter: 750 * ms, ResetAfter: 750 * ms}},
			{time.Second, 0, Decision{Allowed: true, Limit: 10, Remaining: 10}},
		}},
		{"slidingwindowlog", func(c *fakeClock) Limiter { l, _ := NewSlidingWindowLog(PerSecond(10), c.opt()); return l }, []step{
			{0, 3, Decision{Allowed: true, Limit: 10, Remaining: 7, ResetAfter: time.Second}},
			{500 * ms, 8, Decision{Limit: 10, Remaining: 7, RetryAfter: 500 * ms, ResetAfter: 500 * ms}},
			{500 * ms, 7, Decision{Allowed: true, Limit: 10, Remaining: 0, ResetAfter: time.Second}},
		}},
		// The log's window is (now−Period, now]: an event exactly Period ago no longer counts.
		{"slidingwindowlog boundary", func(c *fakeClock) Limiter {
			l, _ := NewSlidingWindowLog(Rate{Limit: 2, Period: time.Second}, c.opt())
			return l
		}, []step{
			{0, 2, Decision{Allowed: true, Limit: 2, Remaining: 0, ResetAfter: time.Second}},
			{999 * ms, 1, Decision{Limit: 2, Remaining: 0, RetryAfter: ms, ResetAfter: ms}},
			{time.Second, 1, Decision{Allowed: true, Limit: 2, Remaining: 1, ResetAfter: time.Second}},
		}},
		// The previous window weighs 2·(1−e): 1.5 at e = 0.25, so one more event (2.5) is over the limit until
		// e = 0.5 (exactly 2).
		{"slidingwindow weighting", func(c *fakeClock) Limiter {
			l, _ := NewSlidingWindow(Rate{Limit: 2, Period: time.Second}, c.opt())
			return l
		}, []step{
			{0, 2, Decision{Allowed: true, Limit: 2, Remaining: 0, ResetAfter: 2 * time.Second}},
			{1250 * ms, 1, Decision{Limit: 2, Remaining: 0, RetryAfter: 250 * ms, ResetAfter: 750 * ms}},
			{1500 * ms, 1, Decision{Allowed: true, Limit: 2, Remaining: 0, ResetAfter: 1500 * ms}},
		}},
		{"slidingwindow", func(c *fakeClock) Limiter { l, _ := NewSlidingWindow(PerSecond(10), c.opt()); return l }, []step{
			{0, 10, Decision{Allowed: true, Limit: 10, Remaining: 0, ResetAfter: 2 * time.Second}},
			{1500 * ms, 0, Decision{Allowed: true, Limit: 10, Remaining: 5, ResetAfter: 500 * ms}},
			{1500 * ms, 6, Decision{Limit: 10, Remaining: 5, RetryAfter: 100 * ms, ResetAfter: 500 * ms}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{}
			l := tc.make(clk)
			for i, s := range tc.steps {
				clk.Set(s.at)
				if got := l.AllowN(s.n); got != s.want {
					t.Fatalf("step %d: AllowN(%d) at %s = %+v, want %+v", i, s.n, s.at, got, s.want)
				}
			}
		})
	}
}

// TestFractionalInterval drains a bucket at random moments for a simulated year, never letting it fill up, and
// compares what it admitted with the exact count burst + floor(t·Limit/Period). Rates whose interval is a
// fraction of a nanosecond (3 per second) must match exactly: no drift at all. Where the interval has to be
// rounded (333 per second) the count never runs ahead and lags by at most the documented relative bound
// 1/(16·interval in ns).
func TestFractionalInterval(t *testing.T) {
	for _, tc := range []struct {
		r     Rate
		exact bool
	}{{PerSecond(3), true}, {PerSecond(7), true}, {PerMinute(13), true}, {Rate{Limit: 333, Period: time.Second}, false}} {
		const burst = 100_000
		clk := &fakeClock{}
		b, _ := NewTokenBucket(tc.r, WithBurst(burst), clk.opt())
		rng := rand.New(rand.NewPCG(5, 6))
		p, l := int64(tc.r.Period), int64(tc.r.Limit)
		maxStep := time.Duration(burst/2) * tc.r.Period / time.Duration(tc.r.Limit) // never refills fully
		admitted := int64(0)
		for clk.Elapsed() < 365*24*time.Hour {
			d := b.AllowN(0)
			if !b.AllowN(d.Remaining).Allowed || b.AllowN(1).Allowed {
				t.Fatalf("%s: could not drain %d at %s", tc.r, d.Remaining, clk.Elapsed())
			}
			admitted += int64(d.Remaining)
			now := int64(clk.Elapsed())
			exact := burst + int64(mulDiv(uint64(now), uint64(l), uint64(p)))
			lag := exact - admitted
			bound := int64(float64(exact)/(16*float64(p)/float64(l))) + 1
			if lag < 0 || tc.exact && lag != 0 || lag > bound {
				t.Fatalf("%s at %s: admitted %d, exact %d", tc.r, clk.Elapsed(), admitted, exact)
			}
			clk.Advance(time.Duration(rng.Int64N(int64(maxStep))))
		}
	}
}

func mulDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	q, _ := bits.Div64(hi, lo, c)
	return q
}
