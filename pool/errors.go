package pool

import "errors"

var (
	// ErrClosed is returned by Acquire and TryAcquire once Close has been called.
	ErrClosed = errors.New("pool: closed")
	// ErrExhausted is returned by TryAcquire when no idle resource is available.
	ErrExhausted = errors.New("pool: no idle resource")
)
