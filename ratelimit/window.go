package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// windowAlgo is the state of a counting algorithm (fixed window, sliding window, sliding log). Times are
// nanoseconds on the limiter's clock. Its methods run under the owning windowed's mutex.
type windowAlgo interface {
	// retry returns 0 when n events fit now, else how long until they would (n <= limit).
	retry(now int64, n int) int64
	take(now int64, n int)
	remaining(now int64) int
	resetAfter(now int64) int64
	setRate(r Rate, now int64) error
}

// windowed runs a windowAlgo behind one mutex, with a FIFO of waiters: while anyone waits, Allow and AllowN deny,
// so that waiters are not starved by callers that never queue.
type windowed struct {
	mu      sync.Mutex
	clk     nanoClock
	algo    windowAlgo // guarded by mu
	limit   int        // guarded by mu
	waiters waitList   // guarded by mu
	queued  int        // guarded by mu; events wanted by waiters
}

func (w *windowed) allow() bool {
	w.mu.Lock()
	now := w.clk.Now()
	ok := w.waiters.len == 0 && w.algo.retry(now, 1) == 0
	if ok {
		w.algo.take(now, 1)
	}
	w.mu.Unlock()
	return ok
}

func (w *windowed) allowN(n int) Decision {
	if n < 0 {
		panic("ratelimit: AllowN: negative n")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.clk.Now()
	d := Decision{Limit: w.limit}
	switch {
	case n > w.limit:
		d.RetryAfter = Forever
	case w.waiters.len > 0:
		d.RetryAfter = time.Duration(max(1, w.algo.retry(now, min(w.limit, n+w.queued))))
	default:
		r := w.algo.retry(now, n)
		if r == 0 {
			w.algo.take(now, n)
			d.Allowed = true
		}
		d.RetryAfter = time.Duration(r)
	}
	d.Remaining = w.algo.remaining(now)
	d.ResetAfter = time.Duration(w.algo.resetAfter(now))
	return d
}

func (w *windowed) waitN(ctx context.Context, n int) error {
	if n < 0 {
		panic("ratelimit: WaitN: negative n")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	now := w.clk.Now()
	if n > w.limit {
		w.mu.Unlock()
		return fmt.Errorf("%w: n=%d, limit=%d", ErrExceedsBurst, n, w.limit)
	}
	if w.waiters.len == 0 && w.algo.retry(now, n) == 0 {
		w.algo.take(now, n)
		w.mu.Unlock()
		return nil
	}
	// Those ahead must be served first, so the wait is at least what all of it would need at once.
	if dl, ok := ctx.Deadline(); ok {
		if lb := w.algo.retry(now, min(w.limit, n+w.queued)); w.clk.At(now + lb).After(dl) {
			w.mu.Unlock()
			return fmt.Errorf("%w: n=%d needs at least %s", ErrWouldExceedDeadline, n, time.Duration(lb))
		}
	}
	me := newWaiter(n)
	defer me.timer.Stop()
	w.waiters.pushBack(me)
	w.queued += n
	for {
		if me.err != nil {
			w.mu.Unlock()
			return me.err
		}
		var timer <-chan time.Time
		if w.waiters.head == me {
			r := w.algo.retry(now, n)
			if r == 0 {
				w.algo.take(now, n)
				w.dequeue(me)
				w.mu.Unlock()
				return nil
			}
			me.timer.Reset(time.Duration(r))
			timer = me.timer.C
		}
		w.mu.Unlock()
		select {
		case <-timer:
		case <-me.wake:
		case <-ctx.Done():
			w.mu.Lock()
			if me.err == nil {
				w.dequeue(me) // nothing was taken, so nothing is given back
				w.mu.Unlock()
				return ctx.Err()
			}
			w.mu.Unlock()
			return me.err
		}
		me.timer.Stop()
		w.mu.Lock()
		now = w.clk.Now()
	}
}

// dequeue removes a waiter and lets the next one look at the state. Called with mu held.
func (w *windowed) dequeue(me *waiter) {
	w.waiters.remove(me)
	w.queued -= me.n
	if h := w.waiters.head; h != nil {
		h.signal()
	}
}

func (w *windowed) setRate(r Rate) error {
	if err := r.Validate(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.algo.setRate(r, w.clk.Now()); err != nil {
		return err
	}
	w.limit = r.Limit
	for x := w.waiters.head; x != nil; {
		next := x.next
		if x.n > w.limit {
			x.err = fmt.Errorf("%w: n=%d, limit=%d", ErrExceedsBurst, x.n, w.limit)
			w.waiters.remove(x)
			w.queued -= x.n
		}
		x.signal()
		x = next
	}
	return nil
}
