// Package ratelimit limits how often events may happen, with every classic algorithm behind one interface.
//
// A [Rate] is a quota: Limit events per Period ([PerSecond], [PerMinute], [PerHour], [Every]). Each algorithm is a
// type with a constructor taking a Rate and options ([WithBurst], [WithClock], ...), and implements [Limiter]:
// Allow and AllowN decide now without blocking, Wait and WaitN block until the events may happen or the
// context ends. AllowN returns a [Decision] carrying what an HTTP API reports: the quota, what remains, when
// to retry, when the quota is full again.
//
// # Choosing an algorithm
//
//   - [TokenBucket]: the default. Limit per Period on average with bursts up to [WithBurst] (default Limit). It
//     is GCRA on one atomic word: lock-free, allocation-free, a denial only reads, and it is the fastest.
//   - [LeakyBucket]: a pacer. Events are spaced evenly Period/Limit apart; Wait queues callers to their slot
//     (bounded by [WithMaxQueue]). Use it in front of a downstream that must not see bursts.
//   - [FixedWindow]: Limit per aligned window ("100 per minute, resetting on the minute"). Cheapest to explain
//     and to share, but lets up to 2×Limit through around a window boundary.
//   - [SlidingWindowLog]: exact. No interval of length Period ever holds more than Limit events. Memory is one
//     int64 per event of the quota, so keep it for small quotas where exactness is a requirement.
//   - [SlidingWindow]: the sliding-window counter of two numbers; close to the log on real traffic, constant
//     memory, but an approximation (see its error bound below).
//   - [Keyed]: a TokenBucket per key (client IP, API key, user) in a sharded map with a hard cap on memory. It
//     implements [KeyLimiter], what HTTP middleware consumes.
//
// # Accuracy and error bounds
//
// The buckets compute on integer nanoseconds, never floats. Time is kept in units of 1/k ns with k >= 16
// chosen so that the emission interval Period/Limit is exact for common rates (3 per second is exact); where it
// cannot be, it is rounded up, so a bucket can only under-admit, by a relative error below 1/(16·interval in
// ns): 6·10⁻⁵ at a million events per second, nothing measurable at everyday rates. Rounding never accumulates
// into drift beyond that bound, and times fit in 63 bits for at least 9 years after a limiter is made.
//
// In any closed interval of length L a bucket admits at most burst + floor(L·Limit/Period) events; a
// FixedWindow at most Limit per aligned window; a SlidingWindowLog at most Limit in any interval shorter than
// Period. A SlidingWindow admits at most Limit per aligned window, so its long-run rate is never above the
// policy, but an adversary who packs one window's events at its end can get up to (not including) 2×Limit
// through in some interval of length Period. Against the exact policy on Poisson traffic with bursts, the tests
// measure 0% wrong decisions at half the limit, 0.05% at 0.8×, 1.9% at the limit (more under overload, where
// it both over- and under-admits), and the busiest interval of one Period at 110% of Limit under 0.8× load,
// 116% at the limit, 131% at 3×. It is conservative for tiny quotas (with Limit 1, one event per two windows).
// The tests run every algorithm with 64 goroutines on a fake clock and check these bounds on every interval.
//
// # Waiting
//
// WaitN checks ctx first, fails at once without taking anything when ctx's deadline comes before the events
// could be allowed ([ErrWouldExceedDeadline]), and returns [ErrExceedsBurst] instead of blocking forever when n
// can never fit. Waiters are served in FIFO order and Allow never jumps ahead of them. A waiter whose ctx ends
// gives back exactly what it reserved, and the waiters behind it move up; a call that fails leaves the state
// unchanged. SetRate changes a limiter at run time and re-plans sleeping waiters under the new rate. [Keyed] and
// [KeyedSlidingWindow] wait the same way, per key.
//
// # Time
//
// Limiters read the clock once per call. [WithClock] injects a clock; Wait sleeps on the runtime's timers, so
// tests of waiting run under [testing/synctest], where both are fake.
package ratelimit
