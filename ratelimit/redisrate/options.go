package redisrate

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluice-go/sluice/ratelimit"
)

// Option configures a [Limiter].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Algorithm selects the limiting algorithm of a [Limiter].
type Algorithm int

const (
	// GCRA is the generic cell rate algorithm, a token bucket: Limit events per Period on average, up to burst
	// at once (see [WithBurst]). One string key per limited key. The default.
	GCRA Algorithm = iota + 1
	// SlidingWindow is the sliding-window counter: at most about Limit events in any Period, estimated from the
	// counts of the current and the previous aligned windows, the previous one weighted by how much of it the
	// sliding window still covers. One small hash per limited key. It has no burst beyond Limit.
	SlidingWindow
)

func (a Algorithm) String() string {
	switch a {
	case GCRA:
		return "gcra"
	case SlidingWindow:
		return "sliding-window"
	}
	return fmt.Sprintf("Algorithm(%d)", int(a))
}

type onError int

const (
	returnError onError = iota
	failOpen
	failClosed
	fallBack
)

type config struct {
	alg      Algorithm
	prefix   string
	burst    int
	timeout  time.Duration
	onErr    onError
	fallback ratelimit.KeyLimiter
	hook     func(key string, err error)
	err      error
}

func (c *config) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf(format, args...)
	}
}

// WithAlgorithm selects the algorithm: [GCRA] (the default) or [SlidingWindow]. Repeating it replaces it.
func WithAlgorithm(a Algorithm) Option {
	return optionFunc(func(c *config) {
		if a != GCRA && a != SlidingWindow {
			c.fail("redisrate: WithAlgorithm: unknown algorithm, got %d", int(a))
			return
		}
		c.alg = a
	})
}

// WithPrefix sets the prefix of every Redis key (default "sluice:rl:gcra:" or "sluice:rl:sw:" after the
// algorithm). Give every policy its own prefix: limiters sharing a prefix share their keys' state. The prefix must
// not contain '{' or '}', which would move the Cluster hash tag. Repeating it replaces the prefix.
func WithPrefix(p string) Option {
	return optionFunc(func(c *config) {
		if strings.ContainsAny(p, "{}") {
			c.fail("redisrate: WithPrefix: prefix must not contain '{' or '}', got %q", p)
			return
		}
		c.prefix = p
	})
}

// WithBurst lets up to n events happen at once ([GCRA] only; default Rate.Limit). Repeating it replaces n.
func WithBurst(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			c.fail("redisrate: WithBurst: burst must be >= 1, got %d", n)
			return
		}
		c.burst = n
	})
}

// WithTimeout bounds each Redis call to d (default 0: only the caller's context and the client's own read and
// write timeouts bound it). A call that times out is a Redis failure, handled as the failure options say.
// go-redis honours context deadlines only when the client's Options.ContextTimeoutEnabled is true; without it,
// the client's ReadTimeout and WriteTimeout (3 s by default) are the bound. Repeating it replaces d.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 0 {
			c.fail("redisrate: WithTimeout: timeout must be >= 0, got %s", d)
			return
		}
		c.timeout = d
	})
}

// WithFailOpen admits events when Redis cannot be reached or fails, with no error: availability over
// protection. The Decision then has Remaining 0 and no ResetAfter, since nothing is known. Without a failure option, Limit returns the error (and [ratelimit.Middleware] applies its own
// policy). WithFailOpen, [WithFailClosed] and [WithFallback] replace each other.
func WithFailOpen() Option {
	return optionFunc(func(c *config) { c.onErr, c.fallback = failOpen, nil })
}

// WithFailClosed denies events when Redis cannot be reached or fails, with no error, retrying after one emission
// interval (Period/Limit). WithFailOpen, WithFailClosed and [WithFallback] replace each other.
func WithFailClosed() Option {
	return optionFunc(func(c *config) { c.onErr, c.fallback = failClosed, nil })
}

// WithFallback asks l, normally a local limiter such as a [ratelimit.Keyed] sized for one instance's share of the
// quota, when Redis cannot be reached or fails. [WithFailOpen], [WithFailClosed] and WithFallback replace each
// other.
func WithFallback(l ratelimit.KeyLimiter) Option {
	return optionFunc(func(c *config) {
		if l == nil {
			c.fail("redisrate: WithFallback: limiter must not be nil, got nil")
			return
		}
		c.onErr, c.fallback = fallBack, l
	})
}

// WithErrorHook calls f with every Redis failure (not with the caller's own cancellation), whatever the failure
// option: log or count them there. It runs on the calling goroutine. Repeating it replaces f.
func WithErrorHook(f func(key string, err error)) Option {
	return optionFunc(func(c *config) { c.hook = f })
}
