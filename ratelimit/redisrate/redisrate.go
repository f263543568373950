package redisrate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluice-go/sluice/ratelimit"
)

// forever is the RetryAfter of a request larger than the burst: no wait makes it succeed.
const forever = time.Duration(math.MaxInt64)

// maxScriptInt bounds every product the scripts compute, below 2^53 with room for the current time in µs.
const maxScriptInt = 1 << 52

// Limiter limits events per key across every process that shares a Redis deployment. Each decision is one atomic
// script run on the server, in one round trip. It implements [ratelimit.KeyLimiter], so it plugs into
// [ratelimit.Middleware].
//
// A Limiter is safe for concurrent use. Its zero value is not usable; make one with [New].
type Limiter struct {
	client  redis.UniversalClient
	script  *redis.Script
	rate    ratelimit.Rate
	burst   int   // largest n that can ever succeed
	unit    int64 // µs per script time unit
	emit    time.Duration
	args    []any // script arguments before n
	argsOne []any // script arguments for n = 1, shared read-only
	cfg     config
}

// New returns a limiter of r on client. [GCRA] refills Limit events per Period with a burst of Limit (see
// [WithBurst]); [SlidingWindow] admits about Limit events in any window of Period (see [WithAlgorithm]).
//
// Times are microseconds of Redis server time: the GCRA emission interval Period/Limit is rounded up to a whole
// microsecond (so a rate above one event per microsecond per key is refused), and the sliding window counts in
// microseconds, or in milliseconds when Limit times Period in µs would reach 2^52.
func New(client redis.UniversalClient, r ratelimit.Rate, opts ...Option) (*Limiter, error) {
	if client == nil {
		return nil, errors.New("redisrate: New: client must not be nil, got nil")
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("redisrate: New: %w", err)
	}
	c := config{alg: GCRA}
	for _, o := range opts {
		o.apply(&c)
	}
	if c.err != nil {
		return nil, c.err
	}
	l := &Limiter{client: client, rate: r, cfg: c}
	periodUs := (r.Period + time.Microsecond - 1) / time.Microsecond
	switch c.alg {
	case GCRA:
		if c.prefix == "" {
			l.cfg.prefix = "sluice:rl:gcra:"
		}
		l.burst = r.Limit
		if c.burst > 0 {
			l.burst = c.burst
		}
		t := (int64(r.Period) + int64(r.Limit)*1000 - 1) / (int64(r.Limit) * 1000) // ceil(Period/Limit) in µs
		if r.Period/time.Duration(r.Limit) < time.Microsecond {
			return nil, fmt.Errorf("redisrate: New: rate must be at most one event per µs per key, got %s", r)
		}
		if int64(l.burst) > maxScriptInt/t/4 {
			return nil, fmt.Errorf("redisrate: WithBurst: burst times Period/Limit must be below 2^50 µs, got %d", l.burst)
		}
		l.script, l.unit, l.emit = gcraScript, 1, time.Duration(t)*time.Microsecond
		l.args = []any{strconv.FormatInt(t, 10), strconv.Itoa(l.burst)}
	case SlidingWindow:
		if c.burst > 0 {
			return nil, fmt.Errorf("redisrate: WithBurst: burst applies to GCRA only, got %d with %s", c.burst, c.alg)
		}
		if c.prefix == "" {
			l.cfg.prefix = "sluice:rl:sw:"
		}
		l.burst, l.unit = r.Limit, 1
		period := int64(periodUs)
		if int64(r.Limit) > maxScriptInt/period {
			if r.Period%time.Millisecond != 0 {
				return nil, fmt.Errorf("redisrate: New: a sliding window this large needs a whole number of "+
					"milliseconds, got %s", r.Period)
			}
			l.unit, period = 1000, int64(r.Period/time.Millisecond)
			if int64(r.Limit) > maxScriptInt/period {
				return nil, fmt.Errorf("redisrate: New: Limit times Period in ms must be below 2^52, got %s", r)
			}
		}
		l.script, l.emit = slidingScript, r.Period/time.Duration(r.Limit)
		l.args = []any{strconv.Itoa(r.Limit), strconv.FormatInt(period, 10), strconv.FormatInt(l.unit, 10)}
	}
	l.argsOne = append(append([]any(nil), l.args...), "1")
	return l, nil
}

// Rate returns the rate l was made with.
func (l *Limiter) Rate() ratelimit.Rate { return l.rate }

// Key returns the Redis key holding key's state: the prefix, then key wrapped in a Cluster hash tag, so that
// the slot depends on key alone.
func (l *Limiter) Key(key string) string { return l.cfg.prefix + "{" + key + "}" }

// Allow reports whether one event for key may happen now, and consumes it if so.
func (l *Limiter) Allow(ctx context.Context, key string) (bool, error) {
	d, err := l.Limit(ctx, key, 1)
	return d.Allowed, err
}

// Limit decides on n events for key, consuming them only if allowed. n = 0 reports the state without changing
// it; n above the burst is denied with a RetryAfter of math.MaxInt64 ([ratelimit.Forever]). It panics if n < 0.
//
// When Redis fails, Limit returns the error wrapped, or follows [WithFailOpen], [WithFailClosed] or
// [WithFallback]. When ctx ends first it returns ctx.Err().
func (l *Limiter) Limit(ctx context.Context, key string, n int) (ratelimit.Decision, error) {
	if n < 0 {
		panic(fmt.Sprintf("redisrate: Limit: n must be >= 0, got %d", n))
	}
	if err := ctx.Err(); err != nil {
		return ratelimit.Decision{}, err
	}
	args := l.argsOne
	if n != 1 {
		args = append(l.args[:len(l.args):len(l.args)], strconv.Itoa(n))
	}
	rctx := ctx
	if l.cfg.timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, l.cfg.timeout)
		defer cancel()
	}
	vals, err := l.script.Run(rctx, l.client, []string{l.Key(key)}, args...).Int64Slice()
	if err == nil && len(vals) != 4 {
		err = fmt.Errorf("script returned %d values, want 4", len(vals))
	}
	if err != nil {
		if ctx.Err() != nil {
			return ratelimit.Decision{}, ctx.Err()
		}
		return l.failed(ctx, key, n, fmt.Errorf("redisrate: %s %q: %w", l.cfg.alg, key, err))
	}
	unit := time.Duration(l.unit) * time.Microsecond
	d := ratelimit.Decision{
		Allowed:    vals[0] == 1,
		Limit:      l.burst,
		Remaining:  int(vals[1]),
		RetryAfter: time.Duration(vals[2]) * unit,
		ResetAfter: time.Duration(vals[3]) * unit,
	}
	if !d.Allowed && (n > l.burst || vals[2] < 0) {
		d.RetryAfter = forever
	}
	return d, nil
}

// failed applies the failure option to a Redis error.
func (l *Limiter) failed(ctx context.Context, key string, n int, err error) (ratelimit.Decision, error) {
	if l.cfg.hook != nil {
		l.cfg.hook(key, err)
	}
	switch l.cfg.onErr {
	case failOpen:
		return ratelimit.Decision{Allowed: true, Limit: l.burst}, nil
	case failClosed:
		return ratelimit.Decision{Limit: l.burst, RetryAfter: l.emit}, nil
	case fallBack:
		return l.cfg.fallback.Limit(ctx, key, n)
	}
	return ratelimit.Decision{}, err
}

// Reset forgets key's state, giving it its full quota back.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	if err := l.client.Del(ctx, l.Key(key)).Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("redisrate: Reset %q: %w", key, err)
	}
	return nil
}
