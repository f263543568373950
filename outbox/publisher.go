package outbox

import (
	"context"
	"sync"
	"time"
)

// Publisher sends messages to a broker.
//
// Publish sends msgs and waits until the broker acknowledged each; it returns nil when all were acknowledged,
// or a slice as long as msgs holding each message's error (nil for acknowledged ones).
//
// The ordering contract: the relay never passes two messages with the same non-empty Key in one call, so a
// publisher may send a whole call concurrently (pipelined, asynchronous) without risking that a later message
// of a key is acknowledged while an earlier one failed. Messages of a key travel in successive calls, the next
// only after the previous one was acknowledged. Implementations must be safe for concurrent use.
//
// ctx ends at the batch's lease deadline (see [WithLeaseTTL]): Publish should then stop sending and return
// promptly, failing the unacknowledged messages with ctx's error, since after the lease expires another relay
// may publish the same keys. Messages failed that way count as failed attempts only when they were in flight
// long enough for a fair chance; the relay takes every message of a call to be in flight from the call's
// start, as a pipelining publisher sends them. A publisher sending a call's messages one at a time should be
// built on [PublisherFunc], which tells the relay when it began each message and begins none after ctx ended.
type Publisher interface {
	Publish(ctx context.Context, msgs []Message) []error
}

// PublisherFunc adapts a function publishing one message to [Publisher]: it is called for each message of a
// batch, one at a time, in order, and for none after ctx ended: those fail with an error wrapping ctx's. It
// suits tests and brokers without batching.
type PublisherFunc func(ctx context.Context, m Message) error

// Publish implements [Publisher].
func (f PublisherFunc) Publish(ctx context.Context, msgs []Message) []error {
	var errs []error
	deadline, bounded := ctx.Deadline()
	for i, m := range msgs {
		var err error
		if err = ctx.Err(); err != nil {
			err = &cutSend{err: err}
		} else {
			var left time.Duration
			if bounded {
				left = time.Until(deadline)
			}
			if err = f(ctx, m); err != nil && ctx.Err() != nil && isContextErr(err) {
				err = &cutSend{err: err, left: left}
			}
		}
		if err != nil {
			if errs == nil {
				errs = make([]error, len(msgs))
			}
			errs[i] = err
		}
	}
	return errs
}

// cutSend is the error of a message whose send the end of ctx cut, or that was not begun before it (left 0):
// err is the publisher's context error, and left how long before ctx's deadline the send began. The relay
// charges the message a failed attempt only when left was a fair share of the batch's budget.
type cutSend struct {
	err  error
	left time.Duration
}

func (e *cutSend) Error() string { return e.err.Error() }
func (e *cutSend) Unwrap() error { return e.err }

// ConcurrentPublisherFunc adapts a function publishing one message to [Publisher], calling it for every message
// of a batch at once, each in its own goroutine, and waiting for all. The relay's ordering contract makes this
// safe for per-key order.
type ConcurrentPublisherFunc func(ctx context.Context, m Message) error

// Publish implements [Publisher].
func (f ConcurrentPublisherFunc) Publish(ctx context.Context, msgs []Message) []error {
	errs := make([]error, len(msgs))
	var wg sync.WaitGroup
	failed := false
	var mu sync.Mutex
	for i := range msgs {
		wg.Go(func() {
			if err := f(ctx, msgs[i]); err != nil {
				errs[i] = err
				mu.Lock()
				failed = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if !failed {
		return nil
	}
	return errs
}
