package ctxutil

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestRemaining(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		if _, ok := Remaining(context.Background()); ok {
			t.Fatal("no deadline: ok must be false")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		time.Sleep(300 * time.Millisecond)
		if d, ok := Remaining(ctx); !ok || d != 700*time.Millisecond {
			t.Fatalf("Remaining = %s, %v; want 700ms", d, ok)
		}
		time.Sleep(time.Second)
		if d, ok := Remaining(ctx); !ok || d != 0 {
			t.Fatalf("past the deadline Remaining = %s, %v; want 0, true", d, ok)
		}
	})
}

func TestWithBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		child, cancelChild := WithBudget(parent, 0.25)
		defer cancelChild()
		if d, _ := Remaining(child); d != 250*time.Millisecond {
			t.Fatalf("child has %s, want 250ms", d)
		}
		<-child.Done()
		if got := time.Since(time.Now().Add(-250 * time.Millisecond)); got <= 0 {
			t.Fatal("unreachable")
		}
		cause := context.Cause(child)
		if !errors.Is(cause, ErrBudgetExhausted) || !errors.Is(child.Err(), context.DeadlineExceeded) {
			t.Fatalf("cause = %v, err = %v", cause, child.Err())
		}
		if parent.Err() != nil {
			t.Fatal("the branch's budget ending must not end the parent")
		}

		free, cancelFree := WithBudget(context.Background(), 0.5)
		defer cancelFree()
		if _, ok := free.Deadline(); ok {
			t.Fatal("without a parent deadline, WithBudget sets none")
		}
	})
}

func TestWithBudgetPanicsOnBadFraction(t *testing.T) {
	for _, f := range []float64{0, -0.5, 1.5} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("WithBudget(%v) must panic", f)
				}
			}()
			WithBudget(context.Background(), f)
		}()
	}
}

func TestWithReserve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		child, cancelChild := WithReserve(parent, 100*time.Millisecond)
		defer cancelChild()
		start := time.Now()
		<-child.Done()
		if took := time.Since(start); took != 900*time.Millisecond {
			t.Fatalf("child ended after %s, want 900ms", took)
		}
		if !errors.Is(context.Cause(child), ErrBudgetExhausted) {
			t.Fatalf("cause = %v", context.Cause(child))
		}
		if parent.Err() != nil {
			t.Fatal("parent must still have its reserve")
		}

		tight, cancelTight := WithReserve(parent, time.Hour)
		defer cancelTight()
		if tight.Err() == nil {
			t.Fatal("a reserve larger than the time left gives a context that is already done")
		}
	})
}

func TestRequire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		if err := Require(context.Background(), time.Hour); err != nil {
			t.Fatalf("no deadline: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := Require(ctx, 100*time.Millisecond); err != nil {
			t.Fatalf("exactly enough time: %v", err)
		}
		if err := Require(ctx, 101*time.Millisecond); !errors.Is(err, ErrInsufficientBudget) {
			t.Fatalf("Require = %v, want ErrInsufficientBudget", err)
		}
		cancel()
		if err := Require(ctx, 0); err != context.Canceled {
			t.Fatalf("done context: Require = %v, want context.Canceled unwrapped", err)
		}
	})
}

func TestMerge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		key := NewKey[string]("k")
		a := key.WithValue(context.Background(), "from a")
		b, cancelB := context.WithCancelCause(context.Background())
		merged, cancel := Merge(a, b)
		defer cancel()
		if v, _ := key.Value(merged); v != "from a" {
			t.Fatal("Merge must keep a's values")
		}
		shutdown := errors.New("server shutting down")
		cancelB(shutdown)
		<-merged.Done()
		if context.Cause(merged) != shutdown {
			t.Fatalf("cause = %v, want b's cause", context.Cause(merged))
		}
	})
}

// b's own deadline cause survives the merge, and a b that is already done gives a merged context that is
// done on return.
func TestMergeCause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		budget := errors.New("b's budget ran out")
		b, cancelB := context.WithTimeoutCause(context.Background(), time.Second, budget)
		defer cancelB()
		merged, cancel := Merge(context.Background(), b)
		defer cancel()
		<-merged.Done()
		if merged.Err() != context.DeadlineExceeded {
			t.Fatalf("err = %v, want context.DeadlineExceeded", merged.Err())
		}
		if !errors.Is(context.Cause(merged), budget) {
			t.Fatalf("cause = %v, want one wrapping b's cause", context.Cause(merged))
		}

		shutdown := errors.New("shutting down")
		done, cancelDone := context.WithCancelCause(context.Background())
		cancelDone(shutdown)
		m2, cancel2 := Merge(context.Background(), done)
		defer cancel2()
		if m2.Err() == nil || context.Cause(m2) != shutdown {
			t.Fatalf("merge with a done b: err %v, cause %v on return", m2.Err(), context.Cause(m2))
		}
	})
}

func TestMergeDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, cancelA := context.WithTimeout(context.Background(), time.Second)
		defer cancelA()
		b, cancelB := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancelB()
		merged, cancel := Merge(a, b)
		defer cancel()
		if d, _ := Remaining(merged); d != 300*time.Millisecond {
			t.Fatalf("merged deadline in %s, want the earlier 300ms", d)
		}
		<-merged.Done()
		if !errors.Is(merged.Err(), context.DeadlineExceeded) {
			t.Fatalf("err = %v", merged.Err())
		}

		// a ending first ends the merge too, and cancel releases the link to b.
		a2, cancelA2 := context.WithCancel(context.Background())
		m2, cancel2 := Merge(a2, context.Background())
		cancelA2()
		<-m2.Done()
		cancel2()
		if context.Cause(m2) != context.Canceled {
			t.Fatalf("cause = %v", context.Cause(m2))
		}
	})
}

func TestDetach(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent, cancel := context.WithCancel(WithRequestID(context.Background(), "r1"))
		detached, cancelDetached := Detach(parent, 2*time.Second)
		defer cancelDetached()
		cancel()
		if detached.Err() != nil {
			t.Fatal("Detach must drop the parent's cancellation")
		}
		if RequestID(detached) != "r1" {
			t.Fatal("Detach must keep values")
		}
		start := time.Now()
		<-detached.Done()
		if time.Since(start) != 2*time.Second {
			t.Fatalf("own limit after %s, want 2s", time.Since(start))
		}
		if !errors.Is(context.Cause(detached), context.DeadlineExceeded) {
			t.Fatalf("cause = %v", context.Cause(detached))
		}
		unbounded, cancelU := Detach(parent, 0)
		if _, ok := unbounded.Deadline(); ok {
			t.Fatal("timeout 0: no deadline")
		}
		cancelU()
	})
}
