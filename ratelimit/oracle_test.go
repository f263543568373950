package ratelimit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// trace is what a run admitted: events[i] events at times[i] (nanoseconds on the fake clock), times increasing.
type trace struct {
	times  []int64
	events []int
	total  int
}

// drive runs goroutines against l for rounds steps of the fake clock. In each round every goroutine asks for
// 1..maxN events (AllowN) at the same instant; the clock then moves by a random step below maxStep.
func drive(t *testing.T, l Limiter, clk *fakeClock, goroutines, rounds, maxN int, maxStep time.Duration, seed uint64) trace {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var tr trace
	for range rounds {
		var mu sync.Mutex
		admitted := 0
		var wg sync.WaitGroup
		for g := range goroutines {
			n := 1 + (g+int(rng.Uint32()))%maxN
			wg.Go(func() {
				var ok bool
				if n == 1 && g%2 == 0 {
					ok = l.Allow()
				} else {
					ok = l.AllowN(n).Allowed
				}
				if ok {
					mu.Lock()
					admitted += n
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if admitted > 0 {
			tr.times = append(tr.times, int64(clk.Elapsed()))
			tr.events = append(tr.events, admitted)
			tr.total += admitted
		}
		clk.Advance(time.Duration(rng.Int64N(int64(maxStep))))
	}
	return tr
}

// maxIn returns, for every pair i <= j, the events in [times[i], times[j]] checked against bound(length).
func (tr trace) check(bound func(length int64) int) error {
	for i := range tr.times {
		sum := 0
		for j := i; j < len(tr.times); j++ {
			sum += tr.events[j]
			if b := bound(tr.times[j] - tr.times[i]); sum > b {
				return fmt.Errorf("%d events in [%d, %d] (length %s), policy allows %d",
					sum, tr.times[i], tr.times[j], time.Duration(tr.times[j]-tr.times[i]), b)
			}
		}
	}
	return nil
}

// perWindow checks every aligned window of period holds at most limit events.
func (tr trace) perWindow(period int64, limit int) error {
	counts := map[int64]int{}
	for i, at := range tr.times {
		counts[at/period] += tr.events[i]
	}
	for w, c := range counts {
		if c > limit {
			return fmt.Errorf("window %d holds %d events, limit %d", w, c, limit)
		}
	}
	return nil
}

// conforms checks tr against the policy of the named algorithm at rate r (burst for the buckets).
func (tr trace) conforms(name string, r Rate, burst int) error {
	within := func(limit int) func(int64) int { // at most limit in any interval shorter than Period
		return func(length int64) int {
			if length < int64(r.Period) {
				return limit
			}
			return 1 << 30
		}
	}
	switch name {
	case "tokenbucket", "leakybucket":
		return tr.check(gcraBound(r, burst))
	case "fixedwindow":
		return tr.perWindow(int64(r.Period), r.Limit)
	case "slidingwindowlog":
		return tr.check(within(r.Limit))
	case "slidingwindow":
		if err := tr.perWindow(int64(r.Period), r.Limit); err != nil {
			return err
		}
		return tr.check(within(2*r.Limit - 1))
	}
	panic(name)
}

// gcraBound is the most a GCRA with burst b and emission interval period/limit admits in a closed interval.
func gcraBound(r Rate, burst int) func(int64) int {
	return func(length int64) int {
		// floor(length·limit/period) without overflow for the lengths tests use.
		return burst + int(length*int64(r.Limit)/int64(r.Period))
	}
}

// TestOracle runs 64 goroutines against each algorithm on a fake clock and checks that no interval of any length
// ever held more events than the policy allows, for rates whose emission interval is and is not a whole number
// of nanoseconds.
func TestOracle(t *testing.T) {
	rates := []Rate{PerSecond(3), {Limit: 7, Period: 100 * time.Millisecond}, PerSecond(1000)}
	for _, a := range algorithms {
		for _, r := range rates {
			t.Run(a.name+"/"+r.String(), func(t *testing.T) {
				clk := &fakeClock{}
				var opts []Option
				burst := r.Limit
				switch a.name {
				case "tokenbucket":
					burst = max(1, r.Limit/2)
					opts = append(opts, WithBurst(burst))
				case "leakybucket":
					burst = 2
					opts = append(opts, WithBurst(burst))
				}
				l := mustLimiter(t, a, r, append(opts, clk.opt())...)
				step := r.Period / time.Duration(r.Limit) * 3 / 2
				tr := drive(t, l, clk, 64, 600, 3, step, uint64(r.Limit))
				if tr.total == 0 {
					t.Fatal("nothing admitted")
				}
				err := tr.conforms(a.name, r, burst)
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestAccuracy runs each algorithm saturated by 64 goroutines over 8000 steps (40 periods) of a fake clock and reports
// admitted/ideal, where ideal is Limit per Period.
func TestAccuracy(t *testing.T) {
	r := Rate{Limit: 100, Period: time.Second}
	rounds := 8000
	if raceEnabled {
		rounds = 2000 // a quarter of the run: goroutine spawns are slow under the race detector
	}
	for _, a := range algorithms {
		t.Run(a.name, func(t *testing.T) {
			clk := &fakeClock{}
			l := mustLimiter(t, a, r, clk.opt())
			step := r.Period / time.Duration(r.Limit) // mean step: half an emission interval
			tr := drive(t, l, clk, 64, rounds, 1, step, 7)
			ideal := float64(r.Limit) * float64(clk.Elapsed()) / float64(r.Period)
			ratio := float64(tr.total) / ideal
			t.Logf("%-17s admitted/ideal = %.4f (%d admitted over %s)", a.name, ratio, tr.total, clk.Elapsed().Round(time.Millisecond))
			lo, hi := 0.95, 1.0+float64(r.Limit+1)/ideal // one burst on top of the rate at most
			if a.name == "leakybucket" {
				// A pacer without queue (Allow only) loses every slot in which nobody asked: arrivals here are
				// random, so about a quarter are lost; TestAccuracyWait measures it as it is meant to be used.
				lo, hi = 0.6, 1.0+2/ideal
			}
			if ratio < lo || ratio > hi {
				t.Fatalf("admitted/ideal %.4f outside [%.4f, %.4f]", ratio, lo, hi)
			}
		})
	}
}

// TestSlidingWindowError measures the sliding-window counter against the exact policy on its own history: a
// request is wrongly allowed when the counter admits it although the last Period already holds Limit admitted
// events, wrongly denied when it refuses although there was room.
func TestSlidingWindowError(t *testing.T) {
	r := Rate{Limit: 100, Period: time.Second}
	for _, load := range []float64{0.5, 0.8, 1.0, 1.5, 3} {
		clk := &fakeClock{}
		sw, _ := NewSlidingWindow(r, clk.opt())
		rng := rand.New(rand.NewPCG(1, uint64(load*10)))
		var requests, wrongAllow, wrongDeny, worst int
		var admitted []int64 // times of admitted events, a queue of the last Period
		for range 100_000 {
			gap := time.Duration(rng.ExpFloat64() * float64(r.Period) / (load * float64(r.Limit)))
			if rng.IntN(20) == 0 {
				gap *= 10 // quiet spells, then bursts
			}
			clk.Advance(gap)
			now := int64(clk.Elapsed())
			for len(admitted) > 0 && admitted[0] <= now-int64(r.Period) {
				admitted = admitted[1:]
			}
			room := len(admitted) < r.Limit
			ok := sw.Allow()
			requests++
			switch {
			case ok && !room:
				wrongAllow++
			case !ok && room:
				wrongDeny++
			}
			if ok {
				admitted = append(admitted, now)
				worst = max(worst, len(admitted))
			}
		}
		t.Logf("load %.1f× limit: %.3f%% wrongly allowed, %.3f%% wrongly denied, worst interval of one period %d (limit %d)",
			load, 100*float64(wrongAllow)/float64(requests), 100*float64(wrongDeny)/float64(requests), worst, r.Limit)
		if worst >= 2*r.Limit {
			t.Fatalf("worst interval %d, the bound is < 2×limit", worst)
		}
		if wrong := float64(wrongAllow+wrongDeny) / float64(requests); load <= 1 && wrong > 0.03 {
			t.Fatalf("%.2f%% of decisions differ from the exact policy", 100*wrong)
		}
	}
}

// TestAccuracyWait has 64 goroutines calling Wait in a loop for 40 periods under synctest, checks the admitted
// events against the policy and reports admitted/ideal: what each algorithm delivers to callers that queue.
func TestAccuracyWait(t *testing.T) {
	r := Rate{Limit: 100, Period: time.Second}
	const periods = 40
	for _, a := range algorithms {
		t.Run(a.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := mustLimiter(t, a, r, WithClock(nil))
				ctx, cancel := context.WithTimeout(context.Background(), periods*r.Period)
				defer cancel()
				start := time.Now()
				var mu sync.Mutex
				at := map[int64]int{}
				var wg sync.WaitGroup
				for range 64 {
					wg.Go(func() {
						// Bounded, so that a Wait that stopped blocking fails the check below instead of spinning
						// forever in a bubble whose clock then never moves.
						for i := 0; i < 10_000 && l.Wait(ctx) == nil; i++ {
							mu.Lock()
							at[int64(time.Since(start))]++
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				tr := traceOf(at)
				burst := r.Limit
				if a.name == "leakybucket" {
					burst = 1
				}
				if err := tr.conforms(a.name, r, burst); err != nil {
					t.Fatal(err)
				}
				ideal := float64(r.Limit * periods)
				ratio := float64(tr.total) / ideal
				t.Logf("%-17s admitted/ideal = %.4f with Wait", a.name, ratio)
				if ratio < 0.99 || ratio > 1+float64(r.Limit+1)/ideal {
					t.Fatalf("admitted/ideal %.4f", ratio)
				}
			})
		})
	}
}

// TestOracleWaitCancel has 64 goroutines calling WaitN with contexts cancelled at random moments, so that refunds
// and re-planning happen all the time, and checks every admitted event against the policy: a refund that gave
// back too much would show up as an interval holding too many events.
func TestOracleWaitCancel(t *testing.T) {
	r := Rate{Limit: 50, Period: time.Second}
	for _, a := range algorithms {
		t.Run(a.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var opts []Option
				burst := r.Limit
				if a.name == "tokenbucket" {
					burst = 2 // small, so that a refund one slot too generous breaks the bound
					opts = append(opts, WithBurst(burst))
				} else if a.name == "leakybucket" {
					burst = 1
				}
				l := mustLimiter(t, a, r, opts...)
				start := time.Now()
				end := start.Add(20 * r.Period)
				var mu sync.Mutex
				at := map[int64]int{}
				cancelled := 0
				var wg sync.WaitGroup
				for g := range 64 {
					wg.Go(func() {
						rng := rand.New(rand.NewPCG(uint64(g), 9))
						for i := 0; i < 10_000 && time.Now().Before(end); i++ { // bounded: see TestAccuracyWait
							n := 1 + rng.IntN(2)
							ctx, cancel := context.WithCancel(context.Background())
							stop := time.AfterFunc(time.Duration(rng.Int64N(int64(r.Period))), cancel)
							err := l.WaitN(ctx, n)
							stop.Stop()
							cancel()
							mu.Lock()
							if err == nil {
								at[int64(time.Since(start))] += n
							} else {
								cancelled++
							}
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				tr := traceOf(at)
				if err := tr.conforms(a.name, r, burst); err != nil {
					t.Fatal(err)
				}
				ratio := float64(tr.total) / float64(20*r.Limit)
				t.Logf("%-17s %d cancelled waits, admitted/ideal %.3f", a.name, cancelled, ratio)
				if cancelled == 0 || ratio < 0.95 {
					t.Fatalf("%d cancelled, admitted/ideal %.3f: the run did not exercise refunds or lost capacity", cancelled, ratio)
				}
			})
		})
	}
}

// TestOracleKeyedWaitCancel has 48 goroutines over three keys calling WaitN with contexts cancelled at random
// moments and checks every key's admitted events against its policy: a refund that gave back too much, or a
// re-plan that lost a debt, would show up as an interval holding too many events.
func TestOracleKeyedWaitCancel(t *testing.T) {
	r := Rate{Limit: 50, Period: time.Second}
	for _, name := range []string{"keyed", "keyedslidingwindow"} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var l keyWaiter
				burst := 2
				if name == "keyed" {
					kl, _ := NewKeyed[int](r, WithBurst(burst))
					l = kl
				} else {
					l, _ = NewKeyedSlidingWindow[int](r)
				}
				start := time.Now()
				end := start.Add(20 * r.Period)
				var mu sync.Mutex
				at := [3]map[int64]int{{}, {}, {}}
				cancelled := 0
				var wg sync.WaitGroup
				for g := range 48 {
					wg.Go(func() {
						rng := rand.New(rand.NewPCG(uint64(g), 9))
						key := g % 3
						for i := 0; i < 10_000 && time.Now().Before(end); i++ { // bounded: see TestAccuracyWait
							n := 1 + rng.IntN(2)
							ctx, cancel := context.WithCancel(context.Background())
							stop := time.AfterFunc(time.Duration(rng.Int64N(int64(r.Period))), cancel)
							err := l.WaitN(ctx, key, n)
							stop.Stop()
							cancel()
							mu.Lock()
							if err == nil {
								at[key][int64(time.Since(start))] += n
							} else {
								cancelled++
							}
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				total := 0
				for key := range at {
					tr := traceOf(at[key])
					policy := "tokenbucket"
					if name != "keyed" {
						policy = "slidingwindow"
					}
					if err := tr.conforms(policy, r, burst); err != nil {
						t.Fatalf("key %d: %v", key, err)
					}
					total += tr.total
				}
				ratio := float64(total) / float64(3*20*r.Limit)
				t.Logf("%s: %d cancelled waits, admitted/ideal %.3f", name, cancelled, ratio)
				if cancelled == 0 || ratio < 0.95 {
					t.Fatalf("%d cancelled, admitted/ideal %.3f: the run did not exercise refunds or lost capacity", cancelled, ratio)
				}
			})
		})
	}
}

// traceOf turns events counted by time into a trace.
func traceOf(at map[int64]int) trace {
	var tr trace
	for k := range at {
		tr.times = append(tr.times, k)
	}
	slices.Sort(tr.times)
	for _, k := range tr.times {
		tr.events = append(tr.events, at[k])
		tr.total += at[k]
	}
	return tr
}
