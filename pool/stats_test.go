package pool

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// Stats.Acquires counts the acquisitions that reached their caller, and nothing else: not a resource taken from
// the slot or the idle stack that failed its checks, nor one whose validation the caller gave up on, nor one
// taken just as the pool closed, nor one handed to a waiter that had given up.
func TestAcquiresCountsExactly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var giveUp context.CancelFunc // set to make the validation cancel its caller
		validate := func(ctx context.Context, c *conn) error {
			if giveUp != nil {
				giveUp()
				return ctx.Err()
			}
			return nil
		}
		p, _ := newTestPool(t, WithMaxSize(2), WithMaxLifetime(time.Hour, 0), WithValidate(validate, 0, time.Second))
		defer closePool(t, p)
		lent := int64(0) // acquisitions that reached the test
		check := func(step string) {
			t.Helper()
			if got := p.Stats().Acquires; got != lent {
				t.Fatalf("%s: Stats.Acquires = %d, want %d", step, got, lent)
			}
		}
		acquire := func(ctx context.Context) *Resource[*conn] {
			t.Helper()
			r, err := p.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			lent++
			return r
		}

		a, b := acquire(t.Context()), acquire(t.Context()) // both created for waiting callers
		check("two creations handed over")
		if _, err := p.TryAcquire(); !errors.Is(err, ErrExhausted) {
			t.Fatalf("TryAcquire at max size: %v", err)
		}
		check("TryAcquire found nothing")

		// The caller gives up during validation: of the resource in the slot, then of the one on the idle stack.
		a.Release() // on the idle stack once b is parked
		b.Release() // in the slot
		for _, where := range []string{"slot", "idle stack"} {
			ctx, cancel := context.WithCancel(t.Context())
			giveUp = cancel
			if _, err := p.Acquire(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("Acquire canceled during validation of the resource in the %s: %v", where, err)
			}
			giveUp = nil
			check("caller gave up during validation, " + where)
		}

		// Resources past their lifetime are taken from the slot and the idle stack, then retired.
		acquire(t.Context()).Release() // parked
		time.Sleep(time.Hour)
		r := acquire(t.Context())
		check("expired resources skipped")
		if s := p.Stats(); s.DestroyedBy(ReasonLifetime) != 2 {
			t.Fatalf("want both old resources retired for their lifetime: %+v", s)
		}

		// A waiter served just as it gives up passes the resource on uncounted. Both are ready when it wakes, so
		// it may take the resource instead: then it counts.
		ctx, cancel := context.WithCancel(t.Context())
		r2 := acquire(t.Context())
		got := make(chan error)
		go func() {
			r, err := p.Acquire(ctx)
			if err == nil {
				r.Release()
			}
			got <- err
		}()
		synctest.Wait() // queued
		cancel()
		r2.Release()
		if err := <-got; err == nil {
			lent++
		}
		check("waiter gave up as it was served")

		// A hand-off to a waiter that keeps it counts once.
		go func() {
			r, err := p.Acquire(context.Background())
			if err == nil {
				r.Release()
			}
			got <- err
		}()
		synctest.Wait()
		r.Release()
		if err := <-got; err != nil {
			t.Fatal(err)
		}
		lent++
		check("hand-off")

		// A resource taken from the slot just as the pool closes goes back and is destroyed, uncounted.
		x := acquire(t.Context())
		x.Release() // parked
		parked := p.takeParked()
		if parked == nil {
			t.Fatal("nothing parked")
		}
		closed := make(chan error)
		go func() { closed <- p.Close(context.Background()) }()
		synctest.Wait() // Close waits for the resource it counts as lent
		if _, err := p.lendParked(t.Context(), parked, true); !errors.Is(err, ErrClosed) {
			t.Fatalf("lending a parked resource after Close: %v", err)
		}
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		check("taken from the slot as the pool closed")
	})
}
