package ratelimit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice/internal/benchpar"
)

// Allow path: a rate no benchmark can exhaust. Deny path: one event per hour, taken before the timer starts.
var (
	benchAllowRate = Rate{Limit: 1 << 20, Period: time.Millisecond}
	benchDenyRate  = PerHour(1)
)

func benchLimiter(b *testing.B, a algorithm, r Rate) Limiter {
	var opts []Option
	if a.name == "tokenbucket" && r == benchAllowRate {
		opts = append(opts, WithBurst(1<<30))
	}
	l := mustLimiter(b, a, r, opts...)
	if r == benchDenyRate {
		l.Allow()
	}
	return l
}

func BenchmarkAllow(b *testing.B) {
	for _, path := range []struct {
		name string
		r    Rate
		want bool
	}{{"allow", benchAllowRate, true}, {"deny", benchDenyRate, false}} {
		for _, a := range algorithms {
			b.Run(path.name+"/serial/"+a.name, func(b *testing.B) {
				l := benchLimiter(b, a, path.r)
				b.ReportAllocs()
				for b.Loop() {
					if l.Allow() != path.want {
						b.Fatal("unexpected decision")
					}
				}
			})
			b.Run(path.name+"/parallel/"+a.name, func(b *testing.B) {
				l := benchLimiter(b, a, path.r)
				b.ReportAllocs()
				benchpar.Run(b, 1, func(pb *benchpar.Iter) {
					for pb.Next() {
						l.Allow()
					}
				})
			})
		}
		b.Run(path.name+"/serial/floor-cas", func(b *testing.B) { benchCAS(b, false) })
		b.Run(path.name+"/parallel/floor-cas", func(b *testing.B) { benchCAS(b, true) })
	}
}

// benchCAS is the floor: the bare atomic CAS loop every lock-free limiter is built on, without reading a clock.
func benchCAS(b *testing.B, parallel bool) {
	var word atomic.Int64
	step := func() {
		for {
			v := word.Load()
			if word.CompareAndSwap(v, v+1) {
				return
			}
		}
	}
	b.ReportAllocs()
	if !parallel {
		for b.Loop() {
			step()
		}
		return
	}
	benchpar.Run(b, 1, func(pb *benchpar.Iter) {
		for pb.Next() {
			step()
		}
	})
}

func BenchmarkAllowN(b *testing.B) {
	for _, a := range algorithms {
		b.Run(a.name, func(b *testing.B) {
			l := benchLimiter(b, a, benchAllowRate)
			b.ReportAllocs()
			for b.Loop() {
				l.AllowN(2)
			}
		})
	}
}

func BenchmarkWaitNoDelay(b *testing.B) {
	ctx := context.Background()
	for _, a := range algorithms {
		b.Run(a.name, func(b *testing.B) {
			l := benchLimiter(b, a, benchAllowRate)
			b.ReportAllocs()
			for b.Loop() {
				if err := l.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkKeyed spreads calls over a million live keys, serially and in parallel.
func BenchmarkKeyed(b *testing.B) {
	const live = 1 << 20
	keys := make([]string, live)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i)
	}
	// Keys stay live (not back at full quota) for an hour, with a quota no benchmark exhausts.
	k, _ := NewKeyed[string](Rate{Limit: 1000, Period: 1000 * time.Hour}, WithMaxKeys(2*live))
	for _, key := range keys {
		k.Allow(key)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k.Allow(keys[i&(live-1)])
			i += 7919
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var seed atomic.Int64
		benchpar.Run(b, 1, func(pb *benchpar.Iter) {
			i := int(seed.Add(1)) * 104729
			for pb.Next() {
				k.Allow(keys[i&(live-1)])
				i += 7919
			}
		})
	})
}
