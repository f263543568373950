package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-go/sluice/breaker"
)

var errDown = errors.New("dependency down")

func fails(context.Context) error    { return errDown }
func succeeds(context.Context) error { return nil }

func mustNew(t *testing.T, opts ...breaker.Option) *breaker.Breaker {
	t.Helper()
	b, err := breaker.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// run makes n calls to fn through b and returns how many were rejected.
func run(b *breaker.Breaker, n int, fn func(context.Context) error) (rejected int) {
	for range n {
		if errors.Is(b.Do(context.Background(), fn), breaker.ErrOpen) {
			rejected++
		}
	}
	return rejected
}

func wantState(t *testing.T, b *breaker.Breaker, want breaker.State) {
	t.Helper()
	if got := b.State(); got != want {
		t.Fatalf("state = %v, want %v (metrics %+v)", got, want, b.Metrics())
	}
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	tests := []struct {
		opt  breaker.Option
		want string
	}{
		{breaker.WithFailureRate(1.5), "breaker: WithFailureRate: rate must be in (0, 1], got 1.5"},
		{breaker.WithFailureRate(0), "breaker: WithFailureRate: rate must be in (0, 1], got 0"},
		{breaker.WithSlowCallRate(0.5, 0), "breaker: WithSlowCallRate: slowerThan must be > 0, got 0s"},
		{breaker.WithSlowCallRate(-1, time.Second), "breaker: WithSlowCallRate: rate must be in (0, 1], got -1"},
		{breaker.WithConsecutiveFailures(0), "breaker: WithConsecutiveFailures: n must be >= 1, got 0"},
		{breaker.WithMinimumCalls(0), "breaker: WithMinimumCalls: n must be >= 1, got 0"},
		{breaker.WithCountWindow(0), "breaker: WithCountWindow: n must be in [1, 524288], got 0"},
		{breaker.WithTimeWindow(0, 10), "breaker: WithTimeWindow: d must be > 0 and at least 1ns per bucket, got 0s"},
		{breaker.WithTimeWindow(time.Second, 0), "breaker: WithTimeWindow: buckets must be in [1, 1024], got 0"},
		{breaker.WithOpenTimeout(-time.Second), "breaker: WithOpenTimeout: d must be > 0, got -1s"},
		{breaker.WithOpenBackoff(0.5, 0), "breaker: WithOpenBackoff: factor must be >= 1, got 0.5"},
		{breaker.WithOpenBackoff(2, -1), "breaker: WithOpenBackoff: max must be >= 0, got -1ns"},
		{breaker.WithOpenBackoff(2, time.Second), "breaker: WithOpenBackoff: max must be >= the open timeout (1m0s), got 1s"},
		{breaker.WithOpenJitter(1), "breaker: WithOpenJitter: fraction must be in [0, 1), got 1"},
		{breaker.WithHalfOpenCalls(0), "breaker: WithHalfOpenCalls: n must be in [1, 32768], got 0"},
		{breaker.WithHalfOpenMaxWait(0), "breaker: WithHalfOpenMaxWait: d must be > 0, got 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			b, err := breaker.New(tt.opt)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("New() = %v, %v; want error %q", b, err, tt.want)
			}
		})
	}
	_, err := breaker.New(breaker.WithCountWindow(10), breaker.WithMinimumCalls(11))
	if want := "breaker: WithMinimumCalls: minimum must be <= the count window (10), got 11"; err == nil || err.Error() != want {
		t.Fatalf("New() error = %v, want %q", err, want)
	}
}

func TestFailureRateTripsOnceMinimumCallsRecorded(t *testing.T) {
	b := mustNew(t, breaker.WithCountWindow(10), breaker.WithMinimumCalls(6), breaker.WithFailureRate(0.5))
	run(b, 5, fails)
	wantState(t, b, breaker.StateClosed) // 5 failures of 5 calls, below the minimum
	run(b, 1, fails)
	wantState(t, b, breaker.StateOpen)
	if m := b.Metrics(); m.Calls != 6 || m.Failures != 6 || m.FailureRate != 1 {
		t.Fatalf("metrics of the opening = %+v, want 6 calls, 6 failures", m)
	}
	if rejected := run(b, 3, succeeds); rejected != 3 {
		t.Fatalf("open breaker rejected %d of 3 calls", rejected)
	}
}

func TestFailureRateThresholdIsInclusive(t *testing.T) {
	for _, tt := range []struct {
		failures int
		want     breaker.State
	}{{2, breaker.StateClosed}, {3, breaker.StateOpen}} {
		b := mustNew(t, breaker.WithCountWindow(10), breaker.WithMinimumCalls(10), breaker.WithFailureRate(0.3))
		run(b, 10-tt.failures, succeeds)
		run(b, tt.failures, fails)
		wantState(t, b, tt.want)
	}
}

func TestCountWindowForgetsOldCalls(t *testing.T) {
	b := mustNew(t, breaker.WithCountWindow(4), breaker.WithMinimumCalls(4), breaker.WithFailureRate(0.75))
	run(b, 2, fails)
	run(b, 10, succeeds)
	run(b, 2, fails)
	wantState(t, b, breaker.StateClosed) // the first two failures left the window
	run(b, 1, fails)
	wantState(t, b, breaker.StateOpen)
}

func TestSlowCallRateTrips(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, breaker.WithCountWindow(4), breaker.WithMinimumCalls(4),
			breaker.WithSlowCallRate(0.5, 100*time.Millisecond))
		slow := func(context.Context) error { time.Sleep(100 * time.Millisecond); return nil }
		quick := func(context.Context) error { time.Sleep(99 * time.Millisecond); return nil }
		run(b, 2, quick)
		run(b, 1, slow)
		wantState(t, b, breaker.StateClosed)
		run(b, 1, slow)
		wantState(t, b, breaker.StateOpen)
		if m := b.Metrics(); m.SlowCalls != 2 || m.Failures != 0 {
			t.Fatalf("metrics = %+v, want 2 slow calls and no failure", m)
		}
	})
}

func TestConsecutiveFailures(t *testing.T) {
	b := mustNew(t, breaker.WithConsecutiveFailures(3))
	run(b, 2, fails)
	run(b, 1, succeeds)
	run(b, 2, fails)
	wantState(t, b, breaker.StateClosed)
	run(b, 1, fails)
	wantState(t, b, breaker.StateOpen)
}

func TestTimeWindowExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, breaker.WithTimeWindow(10*time.Second, 10), breaker.WithMinimumCalls(4),
			breaker.WithFailureRate(0.5))
		run(b, 3, fails)
		time.Sleep(10 * time.Second) // the three failures expire
		run(b, 1, fails)
		run(b, 3, succeeds)
		wantState(t, b, breaker.StateClosed)
		if m := b.Metrics(); m.Calls != 4 || m.Failures != 1 {
			t.Fatalf("window = %d calls, %d failures; want 4, 1", m.Calls, m.Failures)
		}
		time.Sleep(5 * time.Second)
		run(b, 3, fails) // 4 failures of 7 calls
		wantState(t, b, breaker.StateOpen)
	})
}

func TestOpenMovesToHalfOpenLazily(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, breaker.WithConsecutiveFailures(1), breaker.WithOpenTimeout(time.Minute))
		run(b, 1, fails)
		if got := b.RetryAfter(); got != time.Minute {
			t.Fatalf("RetryAfter() = %v, want 1m", got)
		}
		time.Sleep(59 * time.Second)
		if run(b, 1, succeeds) != 1 {
			t.Fatal("open breaker admitted a call before its timeout")
		}
		time.Sleep(time.Hour)
		wantState(t, b, breaker.StateOpen) // nothing happens until a call looks
		p, err := b.Allow()
		if err != nil {
			t.Fatalf("Allow() after the open timeout = %v", err)
		}
		wantState(t, b, breaker.StateHalfOpen)
		p.Done(nil)
	})
}

func TestOpenErrorTellsUntilWhen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, breaker.WithConsecutiveFailures(1), breaker.WithOpenTimeout(30*time.Second))
		run(b, 1, fails)
		opened := time.Now()
		time.Sleep(10 * time.Second)
		err := b.Do(context.Background(), succeeds)
		var oe *breaker.OpenError
		if !errors.Is(err, breaker.ErrOpen) || !errors.As(err, &oe) {
			t.Fatalf("Do() = %v, want an *OpenError matching ErrOpen", err)
		}
		if !oe.Until.Equal(opened.Add(30*time.Second)) || oe.RetryAfter(time.Now()) != 20*time.Second {
			t.Fatalf("OpenError = %+v, retry after %v; want until %v, 20s", oe, oe.RetryAfter(time.Now()), opened.Add(30*time.Second))
		}
	})
}

func TestOpenBackoffAndJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, breaker.WithConsecutiveFailures(1), breaker.WithHalfOpenCalls(1),
			breaker.WithOpenTimeout(time.Second), breaker.WithOpenBackoff(2, 5*time.Second))
		run(b, 1, fails)
		for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
			if got := b.RetryAfter(); got != want {
				t.Fatalf("open for %v, want %v", got, want)
			}
			time.Sleep(want)
			run(b, 1, fails) // the probe fails: the breaker reopens for longer
		}
		time.Sleep(5 * time.Second)
		run(b, 1, succeeds) // the probe succeeds: closed, and the backoff starts over
		wantState(t, b, breaker.StateClosed)
		run(b, 1, fails)
		if got := b.RetryAfter(); got != time.Second {
			t.Fatalf("open for %v after closing, want the base 1s", got)
		}

		j := mustNew(t, breaker.WithConsecutiveFailures(1), breaker.WithOpenTimeout(10*time.Second),
			breaker.WithOpenJitter(0.2))
		seen := map[time.Duration]bool{}
		for range 20 {
			run(j, 1, fails)
			got := j.RetryAfter()
			if got < 8*time.Second || got > 12*time.Second {
				t.Fatalf("jittered open timeout %v outside 10s ± 20%%", got)
			}
			seen[got] = true
			j.Reset()
		}
		if len(seen) < 2 {
			t.Fatal("jitter never changed the open timeout")
		}
	})
}

// openThenHalfOpen trips b with one failure and waits out its open timeout.
func openThenHalfOpen(t *testing.T, b *breaker.Breaker, timeout time.Duration) {
	t.Helper()
	run(b, 1, fails)
	wantState(t, b, breaker.StateOpen)
	time.Sleep(timeout)
}

func TestHalfOpenAdmitsItsPermitsAndGetsThemBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Reopening takes both probes failing, so a single failed probe leaves the breaker half-open.
		b := mustNew(t, breaker.WithCountWindow(1), breaker.WithFailureRate(1), breaker.WithOpenTimeout(time.Second),
			breaker.WithHalfOpenCalls(2))
		openThenHalfOpen(t, b, time.Second)
		p1, err1 := b.Allow()
		p2, err2 := b.Allow()
		_, err3 := b.Allow()
		if err1 != nil || err2 != nil || !errors.Is(err3, breaker.ErrOpen) {
			t.Fatalf("half-open with 2 permits: Allow() = %v, %v, %v", err1, err2, err3)
		}
		if m := b.Metrics(); m.State != breaker.StateHalfOpen || m.ProbesInFlight != 2 {
			t.Fatalf("metrics = %+v, want half-open with 2 probes in flight", m)
		}
		// A canceled probe says nothing about the dependency: its permit comes back for another probe.
		p1.Done(context.Canceled)
		if m := b.Metrics(); m.ProbesInFlight != 1 || m.Calls != 0 {
			t.Fatalf("after a canceled probe: metrics = %+v, want 1 probe in flight, none recorded", m)
		}
		// A probe that panics frees its permit and counts as a failure.
		func() {
			defer func() { _ = recover() }()
			_ = b.Do(context.Background(), func(context.Context) error { panic("boom") })
		}()
		if m := b.Metrics(); m.State != breaker.StateHalfOpen || m.ProbesInFlight != 1 || m.Failures != 1 {
			t.Fatalf("after a panicking probe: metrics = %+v, want 1 in flight, 1 failure", m)
		}
		if _, err := b.Allow(); !errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("Allow() with one probe out and one decided = %v, want ErrOpen", err)
		}
		p2.Done(nil)
		wantState(t, b, breaker.StateClosed) // 1 failure of 2 probes is below a rate of 1
	})
}

func TestHalfOpenDecides(t *testing.T) {
	tests := []struct {
		name     string
		opts     []breaker.Option
		outcomes []error
		want     breaker.State
	}{
		{"all probes succeed", []breaker.Option{breaker.WithConsecutiveFailures(1)}, []error{nil, nil, nil}, breaker.StateClosed},
		{"one failure reopens under the consecutive rule", []breaker.Option{breaker.WithConsecutiveFailures(1)}, []error{nil, errDown}, breaker.StateOpen},
		{"a failure rate below the threshold closes", []breaker.Option{breaker.WithCountWindow(1), breaker.WithFailureRate(0.5)}, []error{errDown, nil, nil}, breaker.StateClosed},
		{"a failure rate at the threshold reopens early", []breaker.Option{breaker.WithCountWindow(1), breaker.WithFailureRate(0.5)}, []error{errDown, errDown}, breaker.StateOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := mustNew(t, append(tt.opts, breaker.WithOpenTimeout(time.Second), breaker.WithHalfOpenCalls(3))...)
				openThenHalfOpen(t, b, time.Second)
				var permits []breaker.Permit
				for range 3 {
					p, err := b.Allow()
					if err != nil {
						t.Fatal(err)
					}
					permits = append(permits, p)
				}
				for i, err := range tt.outcomes {
					permits[i].Done(err)
				}
				wantState(t, b, tt.want)
			})
		})
	}
}

func TestLostProbeCannotWedgeHalfOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, breaker.WithConsecutiveFailures(1), breaker.WithOpenTimeout(time.Second),
			breaker.WithHalfOpenCalls(1), breaker.WithHalfOpenMaxWait(10*time.Second))
		openThenHalfOpen(t, b, time.Second)
		lost, err := b.Allow()
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(9 * time.Second)
		if run(b, 1, succeeds) != 1 {
			t.Fatal("a half-open breaker with its permit out admitted another call")
		}
		time.Sleep(time.Second)
		if run(b, 1, succeeds) != 1 {
			t.Fatal("the call that finds the probes overdue must be rejected")
		}
		wantState(t, b, breaker.StateOpen)
		time.Sleep(time.Second)
		p, err := b.Allow() // a fresh half-open generation
		if err != nil {
			t.Fatal(err)
		}
		lost.Done(errDown) // from an ended generation: ignored
		wantState(t, b, breaker.StateHalfOpen)
		p.Done(nil)
		wantState(t, b, breaker.StateClosed)
	})
}

func TestStalePermitIsIgnored(t *testing.T) {
	b := mustNew(t, breaker.WithConsecutiveFailures(2))
	stale, _ := b.Allow()
	b.Reset()
	run(b, 1, fails)
	stale.Done(errDown) // would be the second failure in a row
	wantState(t, b, breaker.StateClosed)
	var zero breaker.Permit
	zero.Done(errDown) // reports to nothing
}

func TestDefaultClassifier(t *testing.T) {
	tests := []struct {
		err  error
		want breaker.Outcome
	}{
		{nil, breaker.Success},
		{context.Canceled, breaker.Ignored},
		{fmt.Errorf("query: %w", context.Canceled), breaker.Ignored},
		{context.DeadlineExceeded, breaker.Failure},
		{errDown, breaker.Failure},
	}
	for _, tt := range tests {
		if got := breaker.DefaultClassifier(tt.err); got != tt.want {
			t.Errorf("DefaultClassifier(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	b := mustNew(t, breaker.WithConsecutiveFailures(1))
	run(b, 5, func(context.Context) error { return context.Canceled })
	wantState(t, b, breaker.StateClosed)
	run(b, 1, func(context.Context) error { return context.DeadlineExceeded })
	wantState(t, b, breaker.StateOpen)
}

func TestCustomClassifier(t *testing.T) {
	errNotFound := errors.New("not found")
	b := mustNew(t, breaker.WithConsecutiveFailures(1), breaker.WithClassifier(func(err error) breaker.Outcome {
		if errors.Is(err, errNotFound) {
			return breaker.Success // the dependency answered
		}
		return breaker.DefaultClassifier(err)
	}))
	if err := b.Do(context.Background(), func(context.Context) error { return errNotFound }); err != errNotFound {
		t.Fatalf("Do() = %v, want fn's error unchanged", err)
	}
	wantState(t, b, breaker.StateClosed)
}

func TestPanicIsRecordedAndGoesOn(t *testing.T) {
	b := mustNew(t, breaker.WithConsecutiveFailures(1))
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("recovered %v, want the original panic", r)
		}
		wantState(t, b, breaker.StateOpen)
	}()
	_, _ = breaker.Call(context.Background(), b, func(context.Context) (int, error) { panic("boom") })
}

// TestPanickingClassifierReturnsTheProbe: a classifier that panics on a probe's error must not keep the probe's
// permit, or the half-open breaker would reject every call until its max wait. The call counts as a failure.
func TestPanickingClassifierReturnsTheProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errOdd := errors.New("odd")
		b := mustNew(t, breaker.WithConsecutiveFailures(1), breaker.WithOpenTimeout(time.Second),
			breaker.WithHalfOpenCalls(1), breaker.WithClassifier(func(err error) breaker.Outcome {
				if err == errOdd {
					panic("classifier")
				}
				return breaker.DefaultClassifier(err)
			}))
		openThenHalfOpen(t, b, time.Second)
		for _, call := range []func(){
			func() { _ = b.Do(context.Background(), func(context.Context) error { return errOdd }) },
			func() {
				_, _ = breaker.Call(context.Background(), b, func(context.Context) (int, error) { return 0, errOdd })
			},
		} {
			func() {
				defer func() {
					if r := recover(); r != "classifier" {
						t.Fatalf("recovered %v, want the classifier's panic", r)
					}
				}()
				call()
			}()
			wantState(t, b, breaker.StateOpen) // the probe was recorded as a failure
			time.Sleep(time.Second)
		}
	})
}

func TestDoReturnsContextErrorWithoutCalling(t *testing.T) {
	b := mustNew(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	if err := b.Do(ctx, func(context.Context) error { called = true; return nil }); err != context.Canceled || called {
		t.Fatalf("Do(canceled ctx) = %v, called = %v", err, called)
	}
	if _, err := breaker.Call(ctx, b, func(context.Context) (int, error) { return 1, nil }); err != context.Canceled {
		t.Fatalf("Call(canceled ctx) = %v", err)
	}
}

func TestCallReturnsValue(t *testing.T) {
	b := mustNew(t)
	v, err := breaker.Call(context.Background(), b, func(context.Context) (string, error) { return "ok", nil })
	if v != "ok" || err != nil {
		t.Fatalf("Call() = %q, %v", v, err)
	}
}

func TestManualControls(t *testing.T) {
	b := mustNew(t, breaker.WithConsecutiveFailures(1))
	b.ForceOpen()
	if err := b.Do(context.Background(), succeeds); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("forced open: Do() = %v", err)
	}
	wantState(t, b, breaker.StateForcedOpen)
	b.Disable()
	run(b, 3, fails)
	wantState(t, b, breaker.StateDisabled)
	if m := b.Metrics(); m.ConsecutiveFailures != 3 {
		t.Fatalf("disabled breaker recorded %d failures in a row, want 3", m.ConsecutiveFailures)
	}
	b.Reset()
	wantState(t, b, breaker.StateClosed)
	run(b, 1, fails)
	wantState(t, b, breaker.StateOpen)
}

func TestOnStateChangeMayCallBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu  sync.Mutex
			got []breaker.Transition
			b   *breaker.Breaker
		)
		b = mustNew(t, breaker.WithCountWindow(4), breaker.WithMinimumCalls(4), breaker.WithFailureRate(0.5),
			breaker.WithOpenTimeout(time.Second), breaker.WithHalfOpenCalls(1),
			breaker.WithOnStateChange(func(tr breaker.Transition) {
				// Calling back into the breaker must not deadlock, whatever the call.
				_ = b.State()
				_ = b.Metrics()
				_ = b.Do(context.Background(), succeeds)
				mu.Lock()
				got = append(got, tr)
				mu.Unlock()
			}))
		run(b, 2, succeeds)
		run(b, 2, fails)
		time.Sleep(time.Second)
		run(b, 1, succeeds) // the probe: the callback's own call takes the permit or is rejected
		mu.Lock()
		defer mu.Unlock()
		if len(got) < 2 {
			t.Fatalf("transitions = %+v, want at least closed->open->half-open", got)
		}
		trip := got[0]
		if trip.From != breaker.StateClosed || trip.To != breaker.StateOpen || trip.Reason != breaker.ReasonFailureRate {
			t.Fatalf("first transition = %v -> %v (%v)", trip.From, trip.To, trip.Reason)
		}
		if trip.Metrics.Calls != 4 || trip.Metrics.Failures != 2 || trip.Metrics.State != breaker.StateClosed {
			t.Fatalf("the trip's metrics = %+v, want the window that caused it: 4 calls, 2 failures", trip.Metrics)
		}
		if got[1].To != breaker.StateHalfOpen || got[1].Generation <= trip.Generation {
			t.Fatalf("second transition = %+v", got[1])
		}
	})
}

func TestStrings(t *testing.T) {
	for v, want := range map[fmt.Stringer]string{
		breaker.StateClosed: "closed", breaker.StateOpen: "open", breaker.StateHalfOpen: "half-open",
		breaker.StateForcedOpen: "forced-open", breaker.StateDisabled: "disabled", breaker.State(9): "State(9)",
		breaker.Success: "success", breaker.Failure: "failure", breaker.Ignored: "ignored",
		breaker.ReasonFailureRate: "failure rate", breaker.ReasonManual: "manual", breaker.Reason(42): "Reason(42)",
	} {
		if got := v.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

func TestRepeatedOptionsKeepTheLast(t *testing.T) {
	b := mustNew(t, breaker.WithConsecutiveFailures(1),
		breaker.WithClassifier(func(error) breaker.Outcome { return breaker.Ignored }),
		breaker.WithClassifier(nil), // back to the default
		breaker.WithOpenTimeout(time.Hour), breaker.WithOpenTimeout(time.Minute))
	if got := b.RetryAfter(); got != 0 {
		t.Fatalf("closed breaker: RetryAfter() = %v, want 0", got)
	}
	run(b, 1, fails)
	wantState(t, b, breaker.StateOpen)
	if got := b.RetryAfter(); got > time.Minute || got < 59*time.Second {
		t.Fatalf("RetryAfter() = %v, want about the last open timeout, 1m", got)
	}
}

func TestHotPathsAllocateNothing(t *testing.T) {
	ctx := context.Background()
	closed := mustNew(t, breaker.WithCountWindow(100))
	timed := mustNew(t, breaker.WithTimeWindow(10*time.Second, 10), breaker.WithSlowCallRate(0.5, time.Second))
	open := mustNew(t, breaker.WithConsecutiveFailures(1), breaker.WithOpenTimeout(time.Hour))
	run(open, 1, fails)
	for name, fn := range map[string]func(){
		"Do closed":         func() { _ = closed.Do(ctx, succeeds) },
		"Do time window":    func() { _ = timed.Do(ctx, succeeds) },
		"Do failing":        func() { _ = closed.Do(ctx, fails) },
		"Do rejected":       func() { _ = open.Do(ctx, succeeds) },
		"Allow/Done":        func() { p, _ := closed.Allow(); p.Done(nil) },
		"Call":              func() { _, _ = breaker.Call(ctx, closed, func(context.Context) (int, error) { return 1, nil }) },
		"Allow/Done reject": func() { p, err := open.Allow(); p.Done(err) },
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocs per call, want 0", name, n)
		}
	}
}

func TestUncappedBackoffDoesNotOverflow(t *testing.T) {
	// An injected clock: sleeping for centuries is more than a synctest bubble's timers can take.
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := mustNew(t, breaker.WithConsecutiveFailures(1), breaker.WithHalfOpenCalls(1),
		breaker.WithOpenTimeout(time.Second), breaker.WithOpenBackoff(1000, 0), breaker.WithOpenJitter(0.5),
		breaker.WithClock(func() time.Time { return now }))
	run(b, 1, fails)
	for range 12 { // 1000^11 seconds is far beyond what a time.Duration holds
		now = now.Add(b.RetryAfter())
		run(b, 1, fails)
		if b.RetryAfter() < time.Second {
			t.Fatalf("open timeout overflowed: RetryAfter() = %v after %d trips", b.RetryAfter(), b.Metrics().Trips)
		}
	}
}
