package pool

import (
	"context"
	"fmt"
	"time"
)

// Option configures a [Pool]. Options that carry a func of the resource type are generic functions, so the type
// is inferred from the function passed: pool.WithDestroy(func(c *Conn) { c.Close() }).
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config holds the options before New checks them. Typed funcs are kept as any and asserted by New, which
// fails naming the option when their type does not match the pool's.
type config struct {
	maxSize         int
	minIdle         int
	maxIdleTime     time.Duration
	maxLifetime     time.Duration
	lifetimeJitter  float64
	destroy         any // func(T)
	validate        any // func(context.Context, T) error
	validateAfter   time.Duration
	validateTimeout time.Duration
	keepalive       time.Duration
	maxCreates      int
	createTimeout   time.Duration
	backoffMin      time.Duration
	backoffMax      time.Duration
	leakThreshold   time.Duration
	leakStacks      bool
	coarseClock     time.Duration // 0: read the clock on every operation
	hooks           []func(Event)
	now             func() time.Time
	errs            []error
}

func defaultConfig() config {
	return config{
		maxSize:         10,
		lifetimeJitter:  0.025,
		validateAfter:   time.Second,
		validateTimeout: 5 * time.Second,
		maxCreates:      2,
		backoffMin:      10 * time.Millisecond,
		backoffMax:      time.Second,
	}
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("pool: "+format, args...))
}

// WithMaxSize sets the most resources that exist at once, lent, idle and being created or destroyed together
// (HikariCP maximumPoolSize). The default is 10. Repeating it keeps the last value.
func WithMaxSize(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			c.fail("WithMaxSize: size must be >= 1, got %d", n)
		}
		c.maxSize = n
	})
}

// WithMinIdle keeps at least n resources idle, creating them in the background as soon as the count drops,
// within the maximum size (HikariCP minimumIdle). The default is 0. Repeating it keeps the last value.
func WithMinIdle(n int) Option {
	return optionFunc(func(c *config) {
		if n < 0 {
			c.fail("WithMinIdle: count must be >= 0, got %d", n)
		}
		c.minIdle = n
	})
}

// WithMaxIdleTime destroys resources idle for longer than d, keeping at least the WithMinIdle count
// (HikariCP idleTimeout). Zero, the default, keeps idle resources forever. Repeating it keeps the last value.
func WithMaxIdleTime(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 0 {
			c.fail("WithMaxIdleTime: duration must be >= 0, got %s", d)
		}
		c.maxIdleTime = d
	})
}

// WithMaxLifetime retires resources older than d, shortened by a random jitter of up to the given fraction of d
// fixed when each resource is created, so that resources created together do not expire together (HikariCP
// maxLifetime, which uses 2.5%). It is checked on acquire, on release and in the background, so busy pools
// expire too. Zero, the default, keeps resources forever. Repeating it keeps the last value.
func WithMaxLifetime(d time.Duration, jitter float64) Option {
	return optionFunc(func(c *config) {
		if d < 0 {
			c.fail("WithMaxLifetime: duration must be >= 0, got %s", d)
		}
		if jitter < 0 || jitter >= 1 {
			c.fail("WithMaxLifetime: jitter must be in [0, 1), got %g", jitter)
		}
		c.maxLifetime, c.lifetimeJitter = d, jitter
	})
}

// WithDestroy sets the function that closes a resource. It is called once per resource, never while the pool
// holds its lock, and on its own goroutine. The default does nothing. Repeating it keeps the last function.
func WithDestroy[T any](fn func(T)) Option {
	return optionFunc(func(c *config) {
		if fn == nil {
			c.fail("WithDestroy: func must not be nil")
		}
		c.destroy = fn
	})
}

// WithValidate sets a health check run on borrow when a resource has been idle for at least after (pgx pings
// after 1s), and by WithKeepalive. Each check is bounded by timeout (HikariCP validationTimeout, 5s) and by the
// caller's context. A resource that fails is destroyed and Acquire tries another. Repeating it keeps the last.
func WithValidate[T any](fn func(context.Context, T) error, after, timeout time.Duration) Option {
	return optionFunc(func(c *config) {
		switch {
		case fn == nil:
			c.fail("WithValidate: func must not be nil")
		case after < 0:
			c.fail("WithValidate: idle threshold must be >= 0, got %s", after)
		case timeout <= 0:
			c.fail("WithValidate: timeout must be > 0, got %s", timeout)
		}
		c.validate, c.validateAfter, c.validateTimeout = fn, after, timeout
	})
}

// WithKeepalive checks idle resources with the WithValidate func once they have been idle for d, one at a time,
// so the pool is never drained by its own checks (HikariCP keepaliveTime). Zero, the default, turns it off.
// Repeating it keeps the last value.
func WithKeepalive(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 0 {
			c.fail("WithKeepalive: interval must be >= 0, got %s", d)
		}
		c.keepalive = d
	})
}

// WithMaxConcurrentCreates bounds how many resources are created at once, so a burst of callers does not
// become a burst of dials. The default is 2. Repeating it keeps the last value.
func WithMaxConcurrentCreates(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			c.fail("WithMaxConcurrentCreates: count must be >= 1, got %d", n)
		}
		c.maxCreates = n
	})
}

// WithCreateTimeout bounds each call of the create func (HikariCP connectionTimeout bounds the caller; use
// the Acquire context for that). Zero, the default, leaves creation bounded only by Close. Repeating it keeps
// the last value.
func WithCreateTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 0 {
			c.fail("WithCreateTimeout: duration must be >= 0, got %s", d)
		}
		c.createTimeout = d
	})
}

// WithCreateBackoff sets the delay before a creation that follows a failed one: min doubled per consecutive
// failure up to max, reset by a success, so a dead backend is not dialled in a tight loop. The default is 10ms
// to 1s; (0, 0) turns the backoff off. Repeating it keeps the last values.
func WithCreateBackoff(min, max time.Duration) Option {
	return optionFunc(func(c *config) {
		switch {
		case min < 0 || max < min:
			c.fail("WithCreateBackoff: need 0 <= min <= max, got %s and %s", min, max)
		case min == 0 && max > 0: // doubling 0 would never back off
			c.fail("WithCreateBackoff: min must be > 0 when max is, got %s and %s", min, max)
		}
		c.backoffMin, c.backoffMax = min, max
	})
}

// WithLeakDetection reports, through the hooks as an [EventLeak], every resource held for longer than d
// (HikariCP leakDetectionThreshold). With stacks, the stack of each Acquire is captured, which costs about a
// microsecond per Acquire. Zero, the default, turns it off. Repeating it keeps the last values.
func WithLeakDetection(d time.Duration, stacks bool) Option {
	return optionFunc(func(c *config) {
		if d < 0 {
			c.fail("WithLeakDetection: threshold must be >= 0, got %s", d)
		}
		c.leakThreshold, c.leakStacks = d, stacks
	})
}

// WithHook adds a function called with every [Event]: acquisitions with their wait, releases, creations with
// their duration, destructions with their reason, timed out and canceled acquisitions, leaks. Hooks run on the
// goroutine of the event, which may be one of the pool's own, never under the pool's lock, and must be fast. A
// hook may call [Pool.Close], which then starts the shutdown and returns without waiting for it to end.
// Repeating it adds hooks.
func WithHook(fn func(Event)) Option {
	return optionFunc(func(c *config) {
		if fn == nil {
			c.fail("WithHook: func must not be nil")
		}
		c.hooks = append(c.hooks, fn)
	})
}

// WithCoarseClock makes Acquire and Release take their timestamps (idle stamps, lifetime and idle-time checks,
// leak stamps) from a coarse clock of the given resolution instead of reading the clock on every operation. A
// clock read is about half the cost of an uncontended Acquire and Release; with this option the first operation
// after each tick reads the clock and the others reuse its reading. While the pool is busy a background
// goroutine ticks every resolution; once a whole tick passes without an operation it sleeps until the next one,
// so an idle pool does not wake up at all. Readings are never ahead of the clock and at most one resolution
// behind (more if the machine starves the ticking goroutine of CPU), so idle stamps and expiry checks may be off
// by that much; waits reported by Stats and hooks are measured with the exact clock. Zero, the default, reads
// the clock on every operation. Repeating it keeps the last value.
func WithCoarseClock(resolution time.Duration) Option {
	return optionFunc(func(c *config) {
		if resolution < 0 {
			c.fail("WithCoarseClock: resolution must be >= 0, got %s", resolution)
		}
		c.coarseClock = resolution
	})
}

// WithClock sets the source of time, [time.Now] by default. It is read at most once per operation.
// Repeating it keeps the last value.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		if now == nil {
			c.fail("WithClock: func must not be nil")
		}
		c.now = now
	})
}
