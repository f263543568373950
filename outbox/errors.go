package outbox

import "errors"

var (
	// ErrDuplicate is returned by [Inbox.Process] when the message was already processed by this consumer:
	// the handler was not called and nothing was written; acknowledge the message and move on.
	ErrDuplicate = errors.New("outbox: duplicate message")
	// ErrLeaseLost is returned by a store when a relay tries to complete messages of a partition it no longer
	// leases (another relay took it over after the lease expired). The messages stay pending for the new owner.
	ErrLeaseLost = errors.New("outbox: partition lease lost")
	// ErrInvalidName is returned when a table or consumer name is not a plain SQL identifier.
	ErrInvalidName = errors.New("outbox: invalid identifier")
)
