package bench

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/sony/gobreaker/v2"

	"github.com/sluice-go/sluice/breaker"
	"github.com/sluice-go/sluice/internal/benchpar"
)

// The breaker family: ours against github.com/sony/gobreaker/v2 (the reference, `gobreaker`; with its
// BucketPeriod rolling window, `gobreaker-bucket`) and github.com/failsafe-go/failsafe-go's circuit breaker
// (`failsafe` through its executor, `failsafe-permit` through TryAcquirePermit/RecordSuccess), with a bare call
// and an atomic add as floors. Every breaker is configured alike where it can be: open at a 50% failure rate
// over the last 100 calls (or 10s) once 20 calls were recorded; gobreaker's plain Execute keeps its default rule
// (more than 5 failures in a row), the configuration most of its users run.

var errBreakerDown = errors.New("bench: dependency down")

func breakerOK(context.Context) error { return nil }

func newSluiceBreaker(tb testing.TB, opts ...breaker.Option) *breaker.Breaker {
	tb.Helper()
	b, err := breaker.New(append([]breaker.Option{breaker.WithFailureRate(0.5), breaker.WithMinimumCalls(20),
		breaker.WithOpenTimeout(time.Hour)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func rateTrip(c gobreaker.Counts) bool {
	return c.Requests >= 20 && float64(c.TotalFailures)/float64(c.Requests) >= 0.5
}

func newGobreaker() *gobreaker.CircuitBreaker[struct{}] {
	return gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{Timeout: time.Hour})
}

func newGobreakerBucket() *gobreaker.CircuitBreaker[struct{}] {
	return gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{Timeout: time.Hour, Interval: 10 * time.Second,
		BucketPeriod: time.Second, ReadyToTrip: rateTrip})
}

func newFailsafe(timeWindow bool) circuitbreaker.CircuitBreaker[any] {
	bld := circuitbreaker.NewBuilder[any]().WithDelay(time.Hour)
	if timeWindow {
		bld = bld.WithFailureRateThreshold(0.5, 20, 10*time.Second)
	} else {
		bld = bld.WithFailureThresholdRatio(50, 100)
	}
	return bld.Build()
}

// impl is one contender: call makes one call of a function that succeeds (or fails when fail is set) through it.
type impl struct {
	name string
	call func(fail bool) error
}

func sluiceBreaker(name string, b *breaker.Breaker) impl {
	ctx := context.Background()
	down := func(context.Context) error { return errBreakerDown }
	return impl{name, func(fail bool) error {
		if fail {
			return b.Do(ctx, down)
		}
		return b.Do(ctx, breakerOK)
	}}
}

func gobreakerImpl(name string, cb *gobreaker.CircuitBreaker[struct{}]) impl {
	ok := func() (struct{}, error) { return struct{}{}, nil }
	down := func() (struct{}, error) { return struct{}{}, errBreakerDown }
	return impl{name, func(fail bool) error {
		if fail {
			_, err := cb.Execute(down)
			return err
		}
		_, err := cb.Execute(ok)
		return err
	}}
}

func failsafeImpl(name string, cb circuitbreaker.CircuitBreaker[any]) impl {
	ex := failsafe.With[any](cb)
	return impl{name, func(fail bool) error {
		if fail {
			return ex.Run(func() error { return errBreakerDown })
		}
		return ex.Run(func() error { return nil })
	}}
}

func floors() []impl {
	fn := breakerOK
	var n atomic.Int64
	return []impl{
		{"floor-bare-call", func(bool) error { return fn(context.Background()) }},
		{"floor-atomic-add", func(bool) error { n.Add(1); return nil }},
	}
}

// runImpls runs each contender serially and in parallel (benchpar.Run).
func runImpls(b *testing.B, impls []impl) {
	for _, mode := range []string{"serial", "parallel"} {
		for _, im := range impls {
			b.Run(mode+"/"+im.name, func(b *testing.B) {
				b.ReportAllocs()
				if mode == "serial" {
					for b.Loop() {
						_ = im.call(false)
					}
					return
				}
				benchpar.Run(b, 1, func(pb *benchpar.Iter) {
					for pb.Next() {
						_ = im.call(false)
					}
				})
			})
		}
	}
}

// BenchmarkBreakerClosedSuccess: a healthy dependency, every call succeeds and is recorded.
func BenchmarkBreakerClosedSuccess(b *testing.B) {
	b.Run("count-window", func(b *testing.B) {
		runImpls(b, append([]impl{
			sluiceBreaker("sluice-countwindow", newSluiceBreaker(b, breaker.WithCountWindow(100))),
			sluiceBreaker("sluice-consecutive", must(breaker.New(breaker.WithConsecutiveFailures(5)))),
			gobreakerImpl("gobreaker", newGobreaker()),
			failsafeImpl("failsafe", newFailsafe(false)),
		}, floors()...))
	})
	b.Run("time-window", func(b *testing.B) {
		runImpls(b, append([]impl{
			sluiceBreaker("sluice-timewindow", newSluiceBreaker(b, breaker.WithTimeWindow(10*time.Second, 10))),
			gobreakerImpl("gobreaker", newGobreaker()),
			gobreakerImpl("gobreaker-bucket", newGobreakerBucket()),
			failsafeImpl("failsafe", newFailsafe(true)),
		}, floors()...))
	})
}

func must(b *breaker.Breaker, err error) *breaker.Breaker {
	if err != nil {
		panic(err)
	}
	return b
}

// BenchmarkBreakerOpenReject: the dependency is down and the breaker open; every call is rejected.
func BenchmarkBreakerOpenReject(b *testing.B) {
	impls := []impl{
		sluiceBreaker("sluice-countwindow", newSluiceBreaker(b, breaker.WithCountWindow(100))),
		gobreakerImpl("gobreaker", newGobreaker()),
		gobreakerImpl("gobreaker-bucket", newGobreakerBucket()),
		failsafeImpl("failsafe", newFailsafe(false)),
	}
	for _, im := range impls {
		for range 200 {
			_ = im.call(true)
		}
		if err := im.call(false); err == nil {
			b.Fatalf("%s did not open", im.name)
		}
	}
	runImpls(b, impls)
}

// BenchmarkBreakerTwoStep: a permit asked for, then the success reported, without wrapping a function.
func BenchmarkBreakerTwoStep(b *testing.B) {
	sl := newSluiceBreaker(b, breaker.WithCountWindow(100))
	gb := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{Timeout: time.Hour})
	fs := newFailsafe(false)
	runImpls(b, []impl{
		{"sluice-permit", func(bool) error {
			p, err := sl.Allow()
			if err == nil {
				p.Done(nil)
			}
			return err
		}},
		{"gobreaker", func(bool) error {
			done, err := gb.Allow()
			if err == nil {
				done(nil)
			}
			return err
		}},
		{"failsafe-permit", func(bool) error {
			if !fs.TryAcquirePermit() {
				return circuitbreaker.ErrOpen
			}
			fs.RecordSuccess()
			return nil
		}},
	})
}

// BenchmarkBreakerDetection measures how many calls each breaker lets through after a healthy dependency
// starts failing at the given rate, until it opens: the calls-to-open metric (lower reacts faster; the rate
// rules trade some speed for not tripping on a short run of bad luck). Each iteration warms a fresh breaker
// with 200 successes, then feeds it the same pseudo-random failure sequence.
func BenchmarkBreakerDetection(b *testing.B) {
	type maker struct {
		name string
		make func() impl
	}
	makers := []maker{
		{"sluice-countwindow", func() impl {
			return sluiceBreaker("", newSluiceBreaker(b, breaker.WithCountWindow(100)))
		}},
		{"sluice-timewindow", func() impl {
			return sluiceBreaker("", newSluiceBreaker(b, breaker.WithTimeWindow(10*time.Second, 10)))
		}},
		{"sluice-consecutive", func() impl {
			return sluiceBreaker("", must(breaker.New(breaker.WithConsecutiveFailures(6))))
		}},
		{"gobreaker", func() impl { return gobreakerImpl("", newGobreaker()) }},
		{"gobreaker-bucket", func() impl { return gobreakerImpl("", newGobreakerBucket()) }},
		{"failsafe", func() impl { return failsafeImpl("", newFailsafe(false)) }},
	}
	for _, rate := range []struct {
		name string
		p    float64
	}{{"failing-100pct", 1}, {"failing-60pct", 0.6}} {
		for _, m := range makers {
			b.Run(rate.name+"/"+m.name, func(b *testing.B) {
				b.ReportAllocs()
				total, runs := 0, 0
				for i := 0; b.Loop(); i++ {
					im := m.make()
					for range 200 {
						_ = im.call(false)
					}
					r := rand.New(rand.NewPCG(uint64(i), 42))
					calls := 0
					for calls < 100_000 {
						fail := r.Float64() < rate.p
						if err := im.call(fail); err != nil && !errors.Is(err, errBreakerDown) {
							break // rejected: the breaker is open
						}
						calls++
					}
					total += calls
					runs++
				}
				b.ReportMetric(float64(total)/float64(runs), "calls-to-open")
			})
		}
	}
}
