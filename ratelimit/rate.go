package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// Rate is a quota: at most Limit events per Period. The zero value is not a valid rate.
type Rate struct {
	Limit  int           // events allowed per Period; >= 1
	Period time.Duration // length of the period; > 0
}

// PerSecond returns a rate of n events per second.
func PerSecond(n int) Rate { return Rate{Limit: n, Period: time.Second} }

// PerMinute returns a rate of n events per minute.
func PerMinute(n int) Rate { return Rate{Limit: n, Period: time.Minute} }

// PerHour returns a rate of n events per hour.
func PerHour(n int) Rate { return Rate{Limit: n, Period: time.Hour} }

// Every returns a rate of one event every d.
func Every(d time.Duration) Rate { return Rate{Limit: 1, Period: d} }

// String formats r as "100/1s".
func (r Rate) String() string { return fmt.Sprintf("%d/%s", r.Limit, r.Period) }

// Validate reports whether r can drive a limiter.
func (r Rate) Validate() error {
	if r.Limit < 1 {
		return fmt.Errorf("ratelimit: Rate: limit must be >= 1, got %d", r.Limit)
	}
	if r.Period <= 0 {
		return fmt.Errorf("ratelimit: Rate: period must be > 0, got %s", r.Period)
	}
	return nil
}

// Limiter is implemented by every algorithm in this package.
type Limiter interface {
	// Allow reports whether one event may happen now, and consumes it if so.
	Allow() bool
	// AllowN reports whether n events may happen now, consuming them only if allowed, with the details.
	// AllowN(0) reports the state without taking anything.
	AllowN(n int) Decision
	// Wait blocks until one event may happen, or ctx ends.
	Wait(ctx context.Context) error
	// WaitN blocks until n events may happen, or ctx ends.
	WaitN(ctx context.Context, n int) error
}

// Decision is the outcome of a request for n events, with what an HTTP API reports about its quota.
type Decision struct {
	Allowed    bool
	Limit      int           // the quota of the policy
	Remaining  int           // what is left after this decision
	RetryAfter time.Duration // when denied, how long until the same request can succeed
	ResetAfter time.Duration // how long until the limiter is back at full quota
}

// KeyLimiter limits events per key, locally or across instances. It is what [Middleware] consumes; it is
// implemented by [*Keyed] and [*KeyedSlidingWindow] (with string keys) and by the Redis-backed limiter in
// package redisrate.
type KeyLimiter interface {
	// Limit decides on n events for key. An error with a Decision whose Limit is 0 means no decision could
	// be made (for example, a remote store was unreachable). An error with a denying Decision that has a Limit
	// is a denial with a reason (for example [ErrExceedsBurst] or [ErrTooManyKeys]): callers must not let it
	// through as they might on a failure.
	Limit(ctx context.Context, key string, n int) (Decision, error)
}
