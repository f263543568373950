// Package smoke is a tiny benchmark suite following the bench naming contract, for the report's end-to-end
// test: the report builds it, runs it and reads back what it printed.
package smoke

import (
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

func BenchmarkRateLimitSmoke(b *testing.B) {
	var n atomic.Int64
	var mu sync.Mutex
	impls := []struct {
		name string
		op   func()
	}{
		{"sluice-atomic", func() { n.Add(1) }},
		{"xtimerate", func() { mu.Lock(); n.Add(1); mu.Unlock() }},
	}
	for _, impl := range impls {
		b.Run("serial/"+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				impl.op()
			}
		})
		b.Run("parallel/"+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					impl.op()
				}
			})
			b.ReportMetric(1, "admitted/ideal")
		})
	}
}

// BenchmarkPoolSmokeFailure fails when SMOKE_FAIL=1, for the test of a run in which a benchmark fails.
func BenchmarkPoolSmokeFailure(b *testing.B) {
	if os.Getenv("SMOKE_FAIL") == "1" {
		b.Fatal("failing as asked by SMOKE_FAIL")
	}
	for b.Loop() {
	}
}
