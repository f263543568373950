package bench

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	uber "go.uber.org/ratelimit"
	"golang.org/x/time/rate"

	"github.com/sluice-go/sluice/internal/benchpar"
	"github.com/sluice-go/sluice/ratelimit"
)

// Peer comparisons for package ratelimit. The allow path uses a rate no run can exhaust (about 1e9 per second,
// burst 2^30); the deny path one event per hour with that event already taken. Every implementation reads the
// real clock on every call.

var (
	rlAllowRate = ratelimit.Rate{Limit: 1 << 20, Period: time.Millisecond}
	rlDenyRate  = ratelimit.PerHour(1)
)

// rlImpl is one implementation of "may one event happen now?".
type rlImpl struct {
	name string
	// make returns the call for the allow path (deny=false) or the deny path; nil when it has no such path.
	make func(b *testing.B, deny bool) func() bool
}

func sluiceImpl(name string, mk func(r ratelimit.Rate, opts ...ratelimit.Option) (ratelimit.Limiter, error)) rlImpl {
	return rlImpl{"sluice-" + name, func(b *testing.B, deny bool) func() bool {
		r, opts := rlAllowRate, []ratelimit.Option(nil)
		if deny {
			r = rlDenyRate
		} else if name == "tokenbucket" {
			opts = append(opts, ratelimit.WithBurst(1<<30))
		}
		l, err := mk(r, opts...)
		if err != nil {
			b.Fatal(err)
		}
		if deny {
			l.Allow()
		}
		return l.Allow
	}}
}

func xLimiter(deny bool) *rate.Limiter {
	if deny {
		l := rate.NewLimiter(rate.Every(time.Hour), 1)
		l.Allow()
		return l
	}
	return rate.NewLimiter(rate.Limit(1<<30), 1<<30)
}

// rlAlgorithms are the five limiters of package ratelimit, by name.
var rlAlgorithms = []struct {
	name string
	mk   func(r ratelimit.Rate, opts ...ratelimit.Option) (ratelimit.Limiter, error)
}{
	{"tokenbucket", func(r ratelimit.Rate, o ...ratelimit.Option) (ratelimit.Limiter, error) {
		return ratelimit.NewTokenBucket(r, o...)
	}},
	{"leakybucket", func(r ratelimit.Rate, o ...ratelimit.Option) (ratelimit.Limiter, error) {
		return ratelimit.NewLeakyBucket(r, o...)
	}},
	{"fixedwindow", func(r ratelimit.Rate, o ...ratelimit.Option) (ratelimit.Limiter, error) {
		return ratelimit.NewFixedWindow(r, o...)
	}},
	{"slidingwindowlog", func(r ratelimit.Rate, o ...ratelimit.Option) (ratelimit.Limiter, error) {
		return ratelimit.NewSlidingWindowLog(r, o...)
	}},
	{"slidingwindow", func(r ratelimit.Rate, o ...ratelimit.Option) (ratelimit.Limiter, error) {
		return ratelimit.NewSlidingWindow(r, o...)
	}},
}

var rlAllowImpls = func() []rlImpl {
	var impls []rlImpl
	for _, a := range rlAlgorithms {
		impls = append(impls, sluiceImpl(a.name, a.mk))
	}
	return append(impls, rlPeers...)
}()

var rlPeers = []rlImpl{
	{"sluice-keyed", func(b *testing.B, deny bool) func() bool {
		r, opts := rlAllowRate, []ratelimit.Option{ratelimit.WithBurst(1 << 30)}
		if deny {
			r, opts = rlDenyRate, nil
		}
		k, err := ratelimit.NewKeyed[string](r, opts...)
		if err != nil {
			b.Fatal(err)
		}
		if deny {
			k.Allow("client")
		}
		return func() bool { return k.Allow("client") }
	}},
	{"xtimerate", func(_ *testing.B, deny bool) func() bool { return xLimiter(deny).Allow }},
	{"xtimerate-reserve", func(_ *testing.B, deny bool) func() bool {
		l := xLimiter(deny)
		return func() bool {
			r := l.Reserve()
			if r.Delay() > 0 {
				r.Cancel()
				return false
			}
			return true
		}
	}},
	{"xtimerate-wait", func(_ *testing.B, deny bool) func() bool {
		if deny {
			return nil // Wait blocks instead of denying
		}
		l, ctx := xLimiter(false), context.Background()
		return func() bool { return l.Wait(ctx) == nil }
	}},
	{"uber", func(_ *testing.B, deny bool) func() bool {
		if deny {
			return nil // Take blocks instead of denying
		}
		l := uber.New(1e9, uber.WithoutSlack)
		return func() bool { l.Take(); return true }
	}},
	{"floor-cas", func(_ *testing.B, _ bool) func() bool {
		var word atomic.Int64
		return func() bool {
			for {
				v := word.Load()
				if word.CompareAndSwap(v, v+1) {
					return true
				}
			}
		}
	}},
}

func runSerialParallel(b *testing.B, impls []rlImpl, deny bool) {
	for _, mode := range []string{"serial", "parallel"} {
		for _, im := range impls {
			call := im.make(b, deny)
			if call == nil {
				continue
			}
			b.Run(mode+"/"+im.name, func(b *testing.B) {
				b.ReportAllocs()
				if mode == "serial" {
					for b.Loop() {
						call()
					}
					return
				}
				benchpar.Run(b, 1, func(pb *benchpar.Iter) {
					for pb.Next() {
						call()
					}
				})
			})
		}
	}
}

// BenchmarkRateLimitAllow is the admission path: every call is allowed.
func BenchmarkRateLimitAllow(b *testing.B) { runSerialParallel(b, rlAllowImpls, false) }

// BenchmarkRateLimitDeny is the denial path: every call is refused.
func BenchmarkRateLimitDeny(b *testing.B) { runSerialParallel(b, rlAllowImpls, true) }

// BenchmarkRateLimitWait is Wait when no waiting is needed.
func BenchmarkRateLimitWait(b *testing.B) {
	ctx := context.Background()
	tb, _ := ratelimit.NewTokenBucket(rlAllowRate, ratelimit.WithBurst(1<<30))
	lb, _ := ratelimit.NewLeakyBucket(rlAllowRate)
	fw, _ := ratelimit.NewFixedWindow(rlAllowRate)
	sl, _ := ratelimit.NewSlidingWindowLog(rlAllowRate)
	sw, _ := ratelimit.NewSlidingWindow(rlAllowRate)
	x := xLimiter(false)
	for _, c := range []struct {
		name string
		wait func(context.Context) error
	}{
		{"sluice-tokenbucket", tb.Wait}, {"sluice-leakybucket", lb.Wait}, {"sluice-fixedwindow", fw.Wait},
		{"sluice-slidingwindowlog", sl.Wait}, {"sluice-slidingwindow", sw.Wait}, {"xtimerate-wait", x.Wait},
	} {
		b.Run("serial/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	xa := xLimiter(false)
	b.Run("serial/xtimerate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			xa.Allow()
		}
	})
}

// BenchmarkRateLimitAllowN asks for 2 events per call, with the full Decision.
func BenchmarkRateLimitAllowN(b *testing.B) {
	tb, _ := ratelimit.NewTokenBucket(rlAllowRate, ratelimit.WithBurst(1<<30))
	lb, _ := ratelimit.NewLeakyBucket(rlAllowRate, ratelimit.WithBurst(2))
	fw, _ := ratelimit.NewFixedWindow(rlAllowRate)
	sl, _ := ratelimit.NewSlidingWindowLog(rlAllowRate)
	sw, _ := ratelimit.NewSlidingWindow(rlAllowRate)
	for _, c := range []struct {
		name string
		l    ratelimit.Limiter
	}{{"sluice-tokenbucket", tb}, {"sluice-leakybucket", lb}, {"sluice-fixedwindow", fw},
		{"sluice-slidingwindowlog", sl}, {"sluice-slidingwindow", sw}} {
		b.Run("serial/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.l.AllowN(2)
			}
		})
	}
	x := xLimiter(false)
	b.Run("serial/xtimerate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			x.AllowN(time.Now(), 2)
		}
	})
}

// BenchmarkRateLimitKeyed spreads calls over a million live keys. The x/time/rate peer is the usual
// map[string]*rate.Limiter behind a mutex; floor-mutex-map is a bare map[string]int64 behind one mutex.
func BenchmarkRateLimitKeyed(b *testing.B) {
	const live = 1 << 20
	keys := make([]string, live)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i)
	}
	k, _ := ratelimit.NewKeyed[string](ratelimit.Rate{Limit: 1000, Period: 1000 * time.Hour},
		ratelimit.WithMaxKeys(2*live))
	kw, _ := ratelimit.NewKeyedSlidingWindow[string](ratelimit.Rate{Limit: 1 << 30, Period: time.Hour},
		ratelimit.WithMaxKeys(2*live))
	var xmu sync.Mutex
	xm := make(map[string]*rate.Limiter, live)
	var fmu sync.Mutex
	fm := make(map[string]int64, live)
	for _, key := range keys {
		k.Allow(key)
		kw.Allow(key)
		xm[key] = rate.NewLimiter(rate.Every(time.Hour), 1000)
		fm[key] = 1
	}
	impls := []struct {
		name  string
		allow func(string) bool
	}{
		{"sluice-keyed", k.Allow},
		{"sluice-keyedslidingwindow", kw.Allow},
		{"xtimerate", func(key string) bool {
			xmu.Lock()
			l, ok := xm[key]
			if !ok {
				l = rate.NewLimiter(rate.Every(time.Hour), 1000)
				xm[key] = l
			}
			xmu.Unlock()
			return l.Allow()
		}},
		{"floor-mutex-map", func(key string) bool {
			fmu.Lock()
			fm[key]++
			fmu.Unlock()
			return true
		}},
	}
	for _, mode := range []string{"serial", "parallel"} {
		for _, im := range impls {
			b.Run("keys=1M/"+mode+"/"+im.name, func(b *testing.B) {
				b.ReportAllocs()
				if mode == "serial" {
					i := 0
					for b.Loop() {
						im.allow(keys[i&(live-1)])
						i += 7919
					}
					return
				}
				var seed atomic.Int64
				benchpar.Run(b, 1, func(pb *benchpar.Iter) {
					i := int(seed.Add(1)) * 104729
					for pb.Next() {
						im.allow(keys[i&(live-1)])
						i += 7919
					}
				})
			})
		}
	}
}

// BenchmarkRateLimitAccuracy runs 64 goroutines against each limiter on a fake clock for 40 periods of 100 events
// per second, and reports admitted/ideal (1.0 is exact; buckets may add one burst on top).
func BenchmarkRateLimitAccuracy(b *testing.B) {
	r := ratelimit.PerSecond(100)
	type allowAt = func() bool
	type builder struct {
		name string
		make func(now func() time.Time) allowAt
	}
	var builders []builder
	for _, a := range rlAlgorithms {
		builders = append(builders, builder{"sluice-" + a.name, func(now func() time.Time) allowAt {
			l, _ := a.mk(r, ratelimit.WithClock(now))
			return l.Allow
		}})
	}
	builders = append(builders, []builder{
		{"sluice-keyed", func(now func() time.Time) allowAt {
			l, _ := ratelimit.NewKeyed[int](r, ratelimit.WithClock(now))
			return func() bool { return l.Allow(1) }
		}},
		{"xtimerate", func(now func() time.Time) allowAt {
			l := rate.NewLimiter(rate.Limit(r.Limit), r.Limit)
			return func() bool { return l.AllowN(now(), 1) }
		}},
	}...)
	for _, bl := range builders {
		b.Run(bl.name, func(b *testing.B) {
			var ratio float64
			for b.Loop() {
				ratio = accuracyRun(r, bl.make)
			}
			b.ReportMetric(ratio, "admitted/ideal")
		})
	}
}

func accuracyRun(r ratelimit.Rate, mk func(now func() time.Time) func() bool) float64 {
	var ns atomic.Int64
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return base.Add(time.Duration(ns.Load())) }
	allow := mk(now)
	const rounds, goroutines = 8000, 64
	step := int64(r.Period) / int64(r.Limit) / 2 // half an emission interval per round
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range rounds {
		for range goroutines {
			wg.Go(func() {
				if allow() {
					admitted.Add(1)
				}
			})
		}
		wg.Wait()
		ns.Add(step)
	}
	ideal := float64(r.Limit) * float64(ns.Load()) / float64(r.Period)
	return float64(admitted.Load()) / ideal
}
