package breaker

import (
	"fmt"
	"math"
	"time"
)

// Option configures a [Breaker]. Options are applied in order after the defaults; see each option for what
// repeating it does.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Limits of the packed counters (see window.go).
const maxCountWindow = 1 << 19

type windowKind uint8

const (
	noWindow windowKind = iota
	countWindow
	timeWindow
)

type config struct {
	failureRate  float64 // 0: rule off
	slowRate     float64 // 0: rule off
	slowerThan   time.Duration
	consecutive  int // 0: rule off
	minimumCalls int
	minSet       bool

	window     windowKind
	windowSize int           // count window: calls; time window: buckets
	windowSpan time.Duration // time window only

	openTimeout    time.Duration
	backoff        float64
	maxOpenTimeout time.Duration
	jitter         float64

	halfOpenCalls   int
	halfOpenMaxWait time.Duration

	classifier func(error) Outcome
	onChange   func(Transition)
	now        func() time.Time

	errs []error // the first invalid option wins
}

// Defaults, used when the corresponding option is not given.
const (
	DefaultFailureRate     = 0.5
	DefaultCountWindow     = 100
	DefaultMinimumCalls    = 20
	DefaultOpenTimeout     = 60 * time.Second
	DefaultHalfOpenCalls   = 5
	DefaultHalfOpenMaxWait = 60 * time.Second
)

func defaultConfig() config {
	return config{
		openTimeout:     DefaultOpenTimeout,
		backoff:         1,
		halfOpenCalls:   DefaultHalfOpenCalls,
		halfOpenMaxWait: DefaultHalfOpenMaxWait,
	}
}

func (c *config) fail(option, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("breaker: "+option+": "+format, args...))
}

func validRate(r float64) bool { return r > 0 && r <= 1 && !math.IsNaN(r) }

// finish applies the defaults that depend on which options were given and reports the first invalid option.
func (c *config) finish() error {
	if len(c.errs) > 0 {
		return c.errs[0]
	}
	if c.failureRate == 0 && c.slowRate == 0 && c.consecutive == 0 {
		c.failureRate = DefaultFailureRate
	}
	rateRule := c.failureRate > 0 || c.slowRate > 0
	if rateRule && c.window == noWindow {
		c.window, c.windowSize = countWindow, DefaultCountWindow
	}
	if !c.minSet {
		c.minimumCalls = DefaultMinimumCalls
		if c.window == countWindow && c.windowSize < c.minimumCalls {
			c.minimumCalls = c.windowSize
		}
	}
	if rateRule && c.window == countWindow && c.minimumCalls > c.windowSize {
		return fmt.Errorf("breaker: WithMinimumCalls: minimum must be <= the count window (%d), got %d",
			c.windowSize, c.minimumCalls)
	}
	if c.maxOpenTimeout == 0 {
		c.maxOpenTimeout = c.openTimeout
		if c.backoff > 1 {
			c.maxOpenTimeout = time.Duration(math.MaxInt64)
		}
	}
	if c.maxOpenTimeout < c.openTimeout {
		return fmt.Errorf("breaker: WithOpenBackoff: max must be >= the open timeout (%s), got %s",
			c.openTimeout, c.maxOpenTimeout)
	}
	return nil
}

// WithFailureRate trips the breaker when, over the window and once [WithMinimumCalls] calls were recorded,
// the share of failed calls reaches rate, which must be in (0, 1]. Repeating it keeps the last rate.
//
// With no rule option at all, the breaker uses WithFailureRate(0.5).
func WithFailureRate(rate float64) Option {
	return optionFunc(func(c *config) {
		if !validRate(rate) {
			c.fail("WithFailureRate", "rate must be in (0, 1], got %v", rate)
			return
		}
		c.failureRate = rate
	})
}

// WithSlowCallRate trips the breaker when, over the window and once [WithMinimumCalls] calls were recorded,
// the share of calls that took at least slowerThan reaches rate, which must be in (0, 1]. A slow call may also
// be a failure; it then counts for both rules. Measuring durations reads the clock when a call starts and when
// it ends. Repeating it keeps the last setting.
func WithSlowCallRate(rate float64, slowerThan time.Duration) Option {
	return optionFunc(func(c *config) {
		if !validRate(rate) {
			c.fail("WithSlowCallRate", "rate must be in (0, 1], got %v", rate)
			return
		}
		if slowerThan <= 0 {
			c.fail("WithSlowCallRate", "slowerThan must be > 0, got %s", slowerThan)
			return
		}
		c.slowRate, c.slowerThan = rate, slowerThan
	})
}

// WithConsecutiveFailures trips the breaker after n failures in a row (gobreaker's rule), whatever the window
// says. It combines with the rate rules: the first rule to fire trips the breaker. Given alone, it is the only
// rule and the breaker keeps no window. Repeating it keeps the last n.
func WithConsecutiveFailures(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			c.fail("WithConsecutiveFailures", "n must be >= 1, got %d", n)
			return
		}
		c.consecutive = n
	})
}

// WithMinimumCalls sets how many calls the window must hold before the rate rules can trip the breaker.
// The default is 20, or the count window's size if smaller. Repeating it keeps the last n.
func WithMinimumCalls(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			c.fail("WithMinimumCalls", "n must be >= 1, got %d", n)
			return
		}
		c.minimumCalls, c.minSet = n, true
	})
}

// WithCountWindow makes the rate rules look at the last n recorded calls (default 100, at most 524288).
// It replaces any earlier window option.
func WithCountWindow(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 || n > maxCountWindow {
			c.fail("WithCountWindow", "n must be in [1, %d], got %d", maxCountWindow, n)
			return
		}
		c.window, c.windowSize, c.windowSpan = countWindow, n, 0
	})
}

// WithTimeWindow makes the rate rules look at the calls recorded over the last d, kept in the given number
// of buckets (d/buckets is the granularity: the window covers between d-d/buckets and d). Each call reads
// the clock once. It replaces any earlier window option.
func WithTimeWindow(d time.Duration, buckets int) Option {
	return optionFunc(func(c *config) {
		if buckets < 1 || buckets > 1024 {
			c.fail("WithTimeWindow", "buckets must be in [1, 1024], got %d", buckets)
			return
		}
		if d <= 0 || d/time.Duration(buckets) <= 0 {
			c.fail("WithTimeWindow", "d must be > 0 and at least 1ns per bucket, got %s", d)
			return
		}
		c.window, c.windowSize, c.windowSpan = timeWindow, buckets, d
	})
}

// WithOpenTimeout sets how long the breaker stays open before it lets probes through (default 60s).
// Repeating it keeps the last d.
func WithOpenTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.fail("WithOpenTimeout", "d must be > 0, got %s", d)
			return
		}
		c.openTimeout = d
	})
}

// WithOpenBackoff multiplies the open timeout by factor (>= 1) each time the breaker reopens without having
// closed in between, up to max (0: no cap). A successful close returns it to [WithOpenTimeout].
// Repeating it keeps the last setting.
func WithOpenBackoff(factor float64, max time.Duration) Option {
	return optionFunc(func(c *config) {
		if !(factor >= 1) || math.IsInf(factor, 0) {
			c.fail("WithOpenBackoff", "factor must be >= 1, got %v", factor)
			return
		}
		if max < 0 {
			c.fail("WithOpenBackoff", "max must be >= 0, got %s", max)
			return
		}
		c.backoff, c.maxOpenTimeout = factor, max
	})
}

// WithOpenJitter spreads each open timeout uniformly over ±fraction of itself (fraction in [0, 1)), so that
// many breakers tripped by one outage do not probe in lockstep. Repeating it keeps the last fraction.
func WithOpenJitter(fraction float64) Option {
	return optionFunc(func(c *config) {
		if !(fraction >= 0 && fraction < 1) {
			c.fail("WithOpenJitter", "fraction must be in [0, 1), got %v", fraction)
			return
		}
		c.jitter = fraction
	})
}

// WithHalfOpenCalls sets how many probes the half-open breaker lets through (default 5). At most n are in
// flight at once; a probe's permit comes back whatever its outcome. Once n probes have reported, the breaker
// closes unless the probes themselves meet a trip rule, in which case it reopens as soon as that is certain.
// Repeating it keeps the last n.
func WithHalfOpenCalls(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 || n > 1<<15 {
			c.fail("WithHalfOpenCalls", "n must be in [1, 32768], got %d", n)
			return
		}
		c.halfOpenCalls = n
	})
}

// WithHalfOpenMaxWait bounds how long the breaker may stay half-open (default 60s): when probes have not
// decided by then, because one hangs or its permit was lost, the breaker reopens and later probes afresh.
// Repeating it keeps the last d.
func WithHalfOpenMaxWait(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.fail("WithHalfOpenMaxWait", "d must be > 0, got %s", d)
			return
		}
		c.halfOpenMaxWait = d
	})
}

// WithClassifier decides the [Outcome] of a call from its error. The default is [DefaultClassifier].
// It must be safe for concurrent use and fast: it runs on every call. Repeating it keeps the last one; nil
// restores the default.
func WithClassifier(classify func(error) Outcome) Option {
	return optionFunc(func(c *config) { c.classifier = classify })
}

// WithOnStateChange calls fn after every transition, outside any lock, with the metrics that caused it.
// fn may call back into the breaker. Transitions that happen concurrently may be reported concurrently;
// [Transition.Generation] orders them. Repeating it keeps the last fn.
func WithOnStateChange(fn func(Transition)) Option {
	return optionFunc(func(c *config) { c.onChange = fn })
}

// WithClock makes the breaker read time from now instead of [time.Now]. Repeating it keeps the last now.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) { c.now = now })
}
