package bench

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"

	golanglru "github.com/hashicorp/golang-lru/v2"

	"github.com/sluice-go/sluice/cache"
	"github.com/sluice-go/sluice/cache/lru"
	"github.com/sluice-go/sluice/internal/benchpar"
)

// BenchmarkCacheTwoLevel measures the two-level cache's Get when the local tier hits, beside the bare local
// tier it wraps (sluice-lru) and golang-lru, on 10k prefilled keys read in a Zipf order. The target is
// sluice-cache within 1.15x of sluice-lru.
func BenchmarkCacheTwoLevel(b *testing.B) {
	const n = 10_000
	keys := zipfKeys(1<<16, n, 1.01, 3)
	ctx := context.Background()
	c, err := cache.New[int, int](cache.WithLocal(2*n, 0)) // room for every key in every shard
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	l, err := lru.New[int, int](2 * n)
	if err != nil {
		b.Fatal(err)
	}
	g, err := golanglru.New[int, int](2 * n)
	if err != nil {
		b.Fatal(err)
	}
	for k := range n {
		c.Set(ctx, k, k)
		l.Set(k, k)
		g.Add(k, k)
	}
	impls := []struct {
		name string
		get  func(k int)
	}{
		{"sluice-cache", func(k int) { c.Get(ctx, k) }},
		{"sluice-lru", func(k int) { l.Get(k) }},
		{"golang-lru", func(k int) { g.Get(k) }},
	}
	for _, impl := range impls {
		b.Run("local-hit/"+impl.name, func(b *testing.B) {
			runtime.GC() // collect the set-up garbage before timing
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				impl.get(keys[i&(len(keys)-1)])
				i++
			}
		})
	}
	for _, impl := range impls {
		b.Run("local-hit-parallel/"+impl.name, func(b *testing.B) {
			runtime.GC()
			b.ResetTimer() // benchpar.Run, unlike b.Loop, keeps the collection in the timed run
			b.ReportAllocs()
			var seed atomic.Int64
			benchpar.Run(b, 1, func(pb *benchpar.Iter) {
				i := int(seed.Add(7919))
				for pb.Next() {
					impl.get(keys[i&(len(keys)-1)])
					i++
				}
			})
		})
	}
}
