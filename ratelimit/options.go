package ratelimit

import (
	"fmt"
	"time"
)

// An Option configures a limiter. Options are applied in order, after the defaults; an option that does not apply
// to the limiter being built makes its constructor return an error naming it.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Which constructor is reading the options, so that an option that means nothing there is reported.
type kind uint8

const (
	kindTokenBucket kind = iota
	kindLeakyBucket
	kindWindow // FixedWindow, SlidingWindow, SlidingWindowLog
	kindKeyed
)

type config struct {
	burst    int // 0: the default of the algorithm
	now      func() time.Time
	maxQueue int // 0: unbounded
	maxKeys  int
	shards   int
	err      error // the first invalid option
	set      map[string]bool
}

const (
	defaultMaxKeys = 1 << 20
	maxLogLimit    = 1 << 24 // SlidingWindowLog keeps one int64 per event of the quota
)

func newConfig(opts []Option) config {
	c := config{maxKeys: defaultMaxKeys, set: map[string]bool{}}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

func (c *config) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf(format, args...)
	}
}

// check returns the first invalid option, or an option given to a limiter it does not apply to.
func (c *config) check(k kind, name string) error {
	if c.err != nil {
		return c.err
	}
	allowed := map[kind][]string{
		kindTokenBucket: {"WithBurst", "WithClock", "WithMaxQueue"},
		kindLeakyBucket: {"WithBurst", "WithClock", "WithMaxQueue"},
		kindWindow:      {"WithClock"},
		kindKeyed:       {"WithBurst", "WithClock", "WithMaxKeys", "WithShards"},
	}[k]
	for opt := range c.set {
		ok := false
		for _, a := range allowed {
			ok = ok || a == opt
		}
		if !ok {
			return fmt.Errorf("ratelimit: %s: does not apply to %s", opt, name)
		}
	}
	return nil
}

// WithBurst sets how many events may happen at once after the limiter has been idle: the bucket size of a
// [TokenBucket] or [Keyed] (default: the rate's Limit) and the slack of a [LeakyBucket] (default 1, strict
// spacing). The last WithBurst wins.
func WithBurst(n int) Option {
	return optionFunc(func(c *config) {
		c.set["WithBurst"] = true
		if n < 1 {
			c.fail("ratelimit: WithBurst: burst must be >= 1, got %d", n)
			return
		}
		c.burst = n
	})
}

// WithClock makes the limiter read time from now instead of [time.Now]; it is read at most once per call.
// Waiting still uses the runtime's timers, so tests of Wait run under [testing/synctest]. A nil now means
// [time.Now]. The last WithClock wins.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		c.set["WithClock"] = true
		c.now = now
	})
}

// WithMaxQueue bounds how many events may be waiting in Wait at once on a [TokenBucket] or [LeakyBucket]; a
// WaitN that would queue more returns [ErrQueueFull] at once, taking nothing. The default is unbounded for a
// TokenBucket and the rate's Limit (one period of backlog) for a LeakyBucket. The last WithMaxQueue wins.
func WithMaxQueue(n int) Option {
	return optionFunc(func(c *config) {
		c.set["WithMaxQueue"] = true
		if n < 1 {
			c.fail("ratelimit: WithMaxQueue: queue must be >= 1, got %d", n)
			return
		}
		c.maxQueue = n
	})
}

// WithMaxKeys caps how many keys a [Keyed] limiter tracks (default 1<<20). Keys back at full quota are
// forgotten first, which changes no decision; when every tracked key is busy a new key is denied rather than
// another key's state being dropped. The last WithMaxKeys wins.
func WithMaxKeys(n int) Option {
	return optionFunc(func(c *config) {
		c.set["WithMaxKeys"] = true
		if n < 1 {
			c.fail("ratelimit: WithMaxKeys: max keys must be >= 1, got %d", n)
			return
		}
		c.maxKeys = n
	})
}

// WithShards sets how many independently locked shards a [Keyed] limiter splits its keys over; it must be a power
// of two. The default is the smallest power of two >= 4×GOMAXPROCS. The last WithShards wins.
func WithShards(n int) Option {
	return optionFunc(func(c *config) {
		c.set["WithShards"] = true
		if n < 1 || n&(n-1) != 0 {
			c.fail("ratelimit: WithShards: shards must be a power of two, got %d", n)
			return
		}
		c.shards = n
	})
}
