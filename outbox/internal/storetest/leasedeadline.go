package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice/outbox"
)

// cutOff is a store whose lease renewals and release fail once cut is set, like a relay cut off from the database while
// its broker hangs: its leases expire and another relay takes the partitions over. It records the time of
// the last successful Lease.
type cutOff struct {
	outbox.Store
	cut     atomic.Bool
	mu      sync.Mutex
	leaseAt time.Time // guarded by mu
}

func (c *cutOff) Lease(ctx context.Context, owner string, now time.Time, ttl time.Duration) ([]outbox.Lease, error) {
	if c.cut.Load() {
		return nil, errors.New("database unreachable")
	}
	leases, err := c.Store.Lease(ctx, owner, now, ttl)
	if err == nil {
		c.mu.Lock()
		c.leaseAt = now
		c.mu.Unlock()
	}
	return leases, err
}

func (c *cutOff) Release(ctx context.Context, owner string) error {
	if c.cut.Load() {
		return errors.New("database unreachable")
	}
	return c.Store.Release(ctx, owner)
}

// claimed records the attempts of the records a store hands out.
type claimed struct {
	outbox.Store
	mu       sync.Mutex
	attempts map[string]int // guarded by mu
}

func (c *claimed) Claim(ctx context.Context, leases []outbox.Lease, now time.Time, after *outbox.Record, limit int) ([]outbox.Record, bool, error) {
	recs, held, err := c.Store.Claim(ctx, leases, now, after, limit)
	c.mu.Lock()
	for _, r := range recs {
		c.attempts[r.ID] = r.Attempts
	}
	c.mu.Unlock()
	return recs, held, err
}

// testLeaseDeadline: a broker slower than the lease cannot make a relay publish past it. The relay's publish
// context ends before its lease expires, the message it was sending stays pending with no attempt counted
// (it is in its batch's second wave, see [outbox.WithLeaseTTL]), and a second relay taking the partitions over
// publishes it and the rest in per-key order.
func testLeaseDeadline(t *testing.T, h Harness) {
	const ttl = time.Second
	store := h.New(t)
	b := NewBroker()
	msgs := Messages(t.Name(), 30, 3)
	if err := h.Enqueue(context.Background(), store, msgs, true); err != nil {
		t.Fatal(err)
	}
	slow := msgs[4].ID
	storeA := &cutOff{Store: store}
	type result struct {
		deadline time.Time
		err      error
	}
	slowDone := make(chan result, 1)
	pub := b.Publisher()
	pubA := outbox.ConcurrentPublisherFunc(func(ctx context.Context, m outbox.Message) error {
		if m.ID == slow {
			storeA.cut.Store(true)
			deadline, _ := ctx.Deadline()
			select {
			case <-ctx.Done():
				slowDone <- result{deadline, ctx.Err()}
				return ctx.Err()
			case <-time.After(3 * ttl):
				// Without a deadline the message lands after the takeover.
				slowDone <- result{deadline, nil}
			}
		}
		if errs := pub.Publish(ctx, []outbox.Message{m}); errs != nil {
			return errs[0]
		}
		return nil
	})
	var cut, failed atomic.Int64
	stopA := RunRelays(t, storeA, pubA, 1, fast(outbox.WithLeaseTTL(ttl), outbox.WithHook(func(ev outbox.Event) {
		switch ev.Kind {
		case outbox.EventBatchCut:
			cut.Add(int64(ev.Count))
		case outbox.EventFailed:
			failed.Add(1)
		}
	}))...)
	var res result
	select {
	case res = <-slowDone:
	case <-time.After(patience):
		t.Fatalf("the slow message was not published within %s", patience)
	}
	storeA.mu.Lock()
	expiry := storeA.leaseAt.Add(ttl)
	storeA.mu.Unlock()
	// The deadline is set from the relay's clock at the start of the batch; allow for the reads in between.
	if want := expiry.Add(-ttl / 5); res.err == nil || res.deadline.After(want.Add(ttl/20)) {
		t.Fatalf("slow publish: %v with deadline %s before the lease expiry; want a context error, deadline %s before",
			res.err, expiry.Sub(res.deadline), ttl/5)
	}
	Until(t, patience, "the batch reported cut short", func() bool { return cut.Load() > 0 })
	stopA()
	if failed.Load() != 0 {
		t.Fatalf("%d failed attempts reported; a cut is not a failure", failed.Load())
	}

	storeB := &claimed{Store: store, attempts: map[string]int{}}
	RunRelays(t, storeB, b.Publisher(), 1, fast(outbox.WithLeaseTTL(ttl))...)
	b.WaitFor(t, len(msgs), patience)
	got, _ := b.Accepted()
	CheckOrder(t, got, msgs)
	waitPending(t, store, 0)
	storeB.mu.Lock()
	defer storeB.mu.Unlock()
	if n, ok := storeB.attempts[slow]; !ok || n != 0 {
		t.Fatalf("the cut message was claimed again: %v, with %d attempts; want claimed with 0", ok, n)
	}
}
