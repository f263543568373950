package ratelimit

import (
	"errors"
	"math"
	"time"
)

var (
	// ErrExceedsBurst is returned when n events are asked for at once and the limiter can never allow that many
	// (n greater than the burst or the quota). Waiting would never end, so it is an error instead.
	ErrExceedsBurst = errors.New("ratelimit: n exceeds the burst")
	// ErrWouldExceedDeadline is returned by WaitN, without taking anything, when the context's deadline comes
	// before the events could be allowed.
	ErrWouldExceedDeadline = errors.New("ratelimit: wait would exceed the context deadline")
	// ErrQueueFull is returned by WaitN, without taking anything, when the waiting queue bound set with
	// [WithMaxQueue] would be exceeded.
	ErrQueueFull = errors.New("ratelimit: wait queue is full")
	// ErrTooManyKeys is returned by the Limit and WaitN methods of [Keyed] and [KeyedSlidingWindow] when a new
	// key arrives, the [WithMaxKeys] cap is reached and no tracked key can be forgotten. The Decision of Limit
	// then denies the new key.
	ErrTooManyKeys = errors.New("ratelimit: too many keys")
)

// Forever is the RetryAfter of a [Decision] that no amount of waiting can turn into an admission, because n is
// larger than the limiter's burst or quota.
const Forever time.Duration = math.MaxInt64
