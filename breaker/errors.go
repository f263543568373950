package breaker

import (
	"errors"
	"time"
)

// ErrOpen is returned, possibly wrapped in an [*OpenError], when the breaker rejects a call: it is open,
// forced open, or half-open with no probe permit left. Match it with [errors.Is].
var ErrOpen = errors.New("breaker: circuit open")

// OpenError is the error the breaker rejects calls with. It matches [ErrOpen] with [errors.Is] and tells,
// through [errors.As], when the breaker will let a probe through, for a Retry-After header for example.
// The breaker makes one per opening, so rejecting a call allocates nothing; treat it as read-only.
type OpenError struct {
	State State     // StateOpen, StateForcedOpen or StateHalfOpen
	Until time.Time // when StateOpen, the earliest time a probe is let through; zero otherwise
}

func (e *OpenError) Error() string {
	switch e.State {
	case StateOpen:
		return "breaker: circuit open until " + e.Until.Format(time.RFC3339Nano)
	case StateHalfOpen:
		return "breaker: circuit half-open, no probe permit left"
	default:
		return "breaker: circuit forced open"
	}
}

// Is makes errors.Is(err, ErrOpen) true.
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// RetryAfter returns how long until e.Until as seen from now, or 0 when it has passed or is unknown.
func (e *OpenError) RetryAfter(now time.Time) time.Duration {
	if e.Until.IsZero() || !now.Before(e.Until) {
		return 0
	}
	return e.Until.Sub(now)
}

var (
	errHalfOpenFull = &OpenError{State: StateHalfOpen}
	errForcedOpen   = &OpenError{State: StateForcedOpen}
)
