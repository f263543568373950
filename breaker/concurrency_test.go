package breaker

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentTripAndRecover hammers one breaker from many goroutines while the dependency fails in bursts,
// with a clock that moves with the calls. Half-open must never have more probes in flight than its permits,
// nor let more probes through in one generation than its permits plus the probes that were ignored; and the
// breaker must both trip and recover.
func TestConcurrentTripAndRecover(t *testing.T) {
	const (
		workers  = 16
		maxCalls = 50_000 // per worker, in case time stopped moving
		permits  = 3
	)
	// Every call moves time by 100µs, except those a busy half-open breaker rejects: while a held probe waits
	// for its goroutine to run again, they would make time race ahead.
	var ticks atomic.Int64
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return start.Add(time.Duration(ticks.Load()) * 100 * time.Microsecond) }

	var opened, closed atomic.Int64
	b, err := New(WithClock(now), WithTimeWindow(time.Second, 10), WithMinimumCalls(20), WithFailureRate(0.5),
		WithSlowCallRate(0.9, time.Second), WithOpenTimeout(50*time.Millisecond), WithHalfOpenCalls(permits),
		WithHalfOpenMaxWait(time.Hour), // the clock races ahead while probes are held: never give up on them
		WithOnStateChange(func(tr Transition) {
			switch tr.To {
			case StateOpen:
				opened.Add(1)
			case StateClosed:
				closed.Add(1)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}

	// Per half-open generation: probes in flight, the most seen at once, admitted, and ignored.
	type gen struct{ inflight, peak, admitted, ignored int }
	var mu sync.Mutex
	gens := map[uint64]*gen{}
	probe := func(p Permit, delta int, ignored bool) {
		mu.Lock()
		defer mu.Unlock()
		g := gens[p.word]
		if g == nil {
			g = &gen{}
			gens[p.word] = g
		}
		g.inflight += delta
		if delta > 0 {
			g.admitted++
		}
		if ignored {
			g.ignored++
		}
		g.peak = max(g.peak, g.inflight)
	}

	errDown := errors.New("down")
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; ticks.Load() < int64(8*time.Second/(100*time.Microsecond)) && i < maxCalls; i++ {
				// The dependency fails in bursts: mostly down for 1s, then healthy for 1s.
				down := time.Duration(ticks.Load()*100)*time.Microsecond/time.Second%2 == 1
				p, err := b.Allow()
				var oe *OpenError
				if err != nil && !errors.As(err, &oe) {
					t.Errorf("Allow() = %v", err)
				}
				if err == nil || oe.State != StateHalfOpen {
					ticks.Add(1)
				}
				if err != nil {
					continue
				}
				isProbe := stateOf(p.word) == StateHalfOpen
				if isProbe {
					probe(p, 1, false)
				}
				var outcome Outcome
				switch n := r.IntN(10); {
				case n == 0:
					outcome = Ignored
				case down && n < 8, !down && n == 1:
					outcome = Failure
				}
				if isProbe {
					// Hold the probe a while so that other workers find the half-open breaker busy.
					runtime.Gosched()
					probe(p, -1, outcome == Ignored)
				}
				if outcome == Failure {
					p.Done(errDown)
				} else {
					p.Record(outcome)
				}
			}
		})
	}
	wg.Wait()

	if opened.Load() == 0 || closed.Load() == 0 {
		t.Fatalf("the breaker opened %d and closed %d times; want both", opened.Load(), closed.Load())
	}
	for w, g := range gens {
		if g.peak > permits {
			t.Errorf("generation %d had %d probes in flight at once, permits %d", w>>stateBits, g.peak, permits)
		}
		if g.admitted > permits+g.ignored {
			t.Errorf("generation %d admitted %d probes, more than %d permits + %d ignored", w>>stateBits, g.admitted, permits, g.ignored)
		}
	}
	t.Logf("opened %d, closed %d, half-open generations %d", opened.Load(), closed.Load(), len(gens))
}
