package outbox

import (
	"context"
	"sync"
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
// may publish the same keys. Messages failed that way are not counted as failed attempts.
type Publisher interface {
	Publish(ctx context.Context, msgs []Message) []error
}

// PublisherFunc adapts a function publishing one message to [Publisher]: it is called for each message of a
// batch, one at a time, in order. It suits tests and brokers without batching.
type PublisherFunc func(ctx context.Context, m Message) error

// Publish implements [Publisher].
func (f PublisherFunc) Publish(ctx context.Context, msgs []Message) []error {
	var errs []error
	for i, m := range msgs {
		if err := f(ctx, m); err != nil {
			if errs == nil {
				errs = make([]error, len(msgs))
			}
			errs[i] = err
		}
	}
	return errs
}

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
