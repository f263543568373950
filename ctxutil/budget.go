package ctxutil

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Remaining returns the time left before ctx's deadline, and false when ctx has no deadline.
// A deadline already passed gives 0, true.
func Remaining(ctx context.Context) (time.Duration, bool) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return 0, false
	}
	return max(time.Until(deadline), 0), true
}

// WithBudget returns a child of ctx whose deadline is a fraction of the time ctx has left, for one branch of a
// fan-out: the branches of a call with 900ms left can each get WithBudget(ctx, 0.5) and still leave time to
// combine what they return. Without a deadline in ctx it gives no deadline either. When the budget runs out,
// [context.Cause] of the child wraps [ErrBudgetExhausted].
//
// fraction must be in (0, 1]; anything else is a programming error and panics. Call cancel when done.
func WithBudget(ctx context.Context, fraction float64) (context.Context, context.CancelFunc) {
	if !(fraction > 0 && fraction <= 1) {
		panic(fmt.Sprintf("ctxutil: WithBudget: fraction must be in (0, 1], got %v", fraction))
	}
	left, ok := Remaining(ctx)
	if !ok {
		return context.WithCancel(ctx)
	}
	share := time.Duration(float64(left) * fraction)
	cause := fmt.Errorf("%w: WithBudget(%v) of %s", ErrBudgetExhausted, fraction, left)
	return context.WithDeadlineCause(ctx, time.Now().Add(share), cause)
}

// WithReserve returns a child of ctx that ends reserve before ctx's deadline, so that the caller keeps time to
// answer (a fallback, an error response, a log line) after the work it bounds gives up. Without a deadline in
// ctx it gives no deadline either. When the child's deadline comes first, [context.Cause] of the child wraps
// [ErrBudgetExhausted]; when ctx had less than reserve left, the child is already done.
//
// reserve must not be negative; a negative reserve is a programming error and panics. Call cancel when done.
func WithReserve(ctx context.Context, reserve time.Duration) (context.Context, context.CancelFunc) {
	if reserve < 0 {
		panic(fmt.Sprintf("ctxutil: WithReserve: reserve must be >= 0, got %s", reserve))
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	cause := fmt.Errorf("%w: WithReserve(%s)", ErrBudgetExhausted, reserve)
	return context.WithDeadlineCause(ctx, deadline.Add(-reserve), cause)
}

// Require returns nil when ctx has at least need left before its deadline (or has no deadline), ctx.Err() when
// ctx is already done, and an error wrapping [ErrInsufficientBudget] otherwise. Call it before starting work
// that cannot finish in less than need, to fail fast instead of failing late.
func Require(ctx context.Context, need time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	left, ok := Remaining(ctx)
	if !ok || left >= need {
		return nil
	}
	return fmt.Errorf("%w: need %s, %s left", ErrInsufficientBudget, need, left)
}

// Merge returns a context with the values of a that is done when a or b is done. Its deadline is the earlier
// of the two. When b ends first, [context.Cause] of the merged context carries b's cause: it is b's cause when
// b is cancelled, and wraps it (so [errors.Is] matches it) when b's deadline passes, in which case Err is
// [context.DeadlineExceeded]. When b is already done, so is the merged context. It serves work that belongs to
// a (a request) but must also stop when something else stops (a server shutting down). Call cancel when done,
// to release the link to b.
func Merge(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancelCause := context.WithCancelCause(a)
	cancel := func() { cancelCause(context.Canceled) }
	if bd, ok := b.Deadline(); ok {
		if ad, ok := a.Deadline(); !ok || bd.Before(ad) {
			var cancelDeadline context.CancelFunc
			ctx, cancelDeadline = context.WithDeadlineCause(ctx, bd, deadlineOf{b})
			cancel = func() { cancelDeadline(); cancelCause(context.Canceled) }
		}
	}
	onDone := func() {
		if _, ok := b.Deadline(); ok && errors.Is(b.Err(), context.DeadlineExceeded) {
			// The merged deadline is no later than b's and ends ctx itself, with DeadlineExceeded as its Err
			// and deadlineOf{b} as its cause.
			return
		}
		cancelCause(context.Cause(b))
	}
	if b.Err() != nil {
		onDone() // done on return, not a moment later
		return ctx, cancel
	}
	stop := context.AfterFunc(b, onDone)
	return ctx, func() { stop(); cancel() }
}

// deadlineOf is the cause of a merged context ended by the deadline it took from ctx: it unwraps to ctx's own
// cause. Both deadlines are the same instant and their timers fire in either order, so it waits for ctx to be
// done, which its deadline having passed makes immediate or a matter of its timer firing.
type deadlineOf struct{ ctx context.Context }

func (e deadlineOf) Error() string { return e.Unwrap().Error() }

func (e deadlineOf) Unwrap() error {
	<-e.ctx.Done()
	return context.Cause(e.ctx)
}

// Detach returns a context with ctx's values but not its cancellation or deadline, bounded instead by its own
// timeout: for work that must outlive the caller (a dial shared by waiters, a cache refresh, a publish) and must
// still end. A timeout <= 0 gives no limit. When the limit is reached, [context.Cause] says so and wraps
// [context.DeadlineExceeded]. Call cancel when done.
func Detach(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	detached := context.WithoutCancel(ctx)
	if timeout <= 0 {
		return context.WithCancel(detached)
	}
	cause := fmt.Errorf("ctxutil: Detach: own limit of %s reached: %w", timeout, context.DeadlineExceeded)
	return context.WithTimeoutCause(detached, timeout, cause)
}
