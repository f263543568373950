package cache

import (
	"context"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluice-go/sluice/cache/lru"
	"github.com/sluice-go/sluice/internal/benchpar"
)

// benchKeys is a Zipf(1.01) trace over n keys, so hits land on hot keys as they do in services.
func benchKeys(n int) []int {
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.01, 1, uint64(n-1))
	keys := make([]int, 1<<16)
	for i := range keys {
		keys[i] = int(z.Uint64())
	}
	return keys
}

// mutexMap is the floor: a map under one mutex, no eviction, no TTL.
type mutexMap struct {
	mu sync.Mutex
	m  map[int]int
}

func (f *mutexMap) Get(k int) (int, bool) {
	f.mu.Lock()
	v, ok := f.m[k]
	f.mu.Unlock()
	return v, ok
}

// BenchmarkGetLocalHit compares a two-level Get that hits the local tier with a Get on the bare local tier
// and with a locked map.
func BenchmarkGetLocalHit(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		keys := benchKeys(n)
		ctx := context.Background()
		c, err := New[int, int](WithLocal(2*n, 0)) // room for every key in every shard
		if err != nil {
			b.Fatal(err)
		}
		l, _ := lru.New[int, int](2 * n)
		floor := &mutexMap{m: make(map[int]int, n)}
		for k := range n {
			c.Set(ctx, k, k)
			l.Set(k, k)
			floor.m[k] = k
		}
		impls := []struct {
			name string
			get  func(k int)
		}{
			{"two-level", func(k int) { c.Get(ctx, k) }},
			{"lru", func(k int) { l.Get(k) }},
			{"mutex-map", func(k int) { floor.Get(k) }},
		}
		for _, impl := range impls {
			b.Run("keys="+strconv.Itoa(n)+"/serial/"+impl.name, func(b *testing.B) {
				runtime.GC() // collect the set-up garbage before timing
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					impl.get(keys[i&(len(keys)-1)])
					i++
				}
			})
			b.Run("keys="+strconv.Itoa(n)+"/parallel/"+impl.name, func(b *testing.B) {
				runtime.GC()
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
		c.Close()
	}
}

// BenchmarkGetMiss measures the miss path: flight registration, the load on the cache's goroutine, the fill
// of the local tier. Every key is new, so every Get loads.
func BenchmarkGetMiss(b *testing.B) {
	ctx := context.Background()
	c, err := New[int, int](WithLocal(1024, 0), WithLoader(func(_ context.Context, k int) (int, error) { return k, nil }))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	var next atomic.Int64
	benchpar.Run(b, 1, func(pb *benchpar.Iter) {
		for pb.Next() {
			c.Get(ctx, int(next.Add(1)))
		}
	})
}

// BenchmarkGetStampede has every goroutine read the same key right after it was deleted, the case the flight
// group exists for.
func BenchmarkGetStampede(b *testing.B) {
	ctx := context.Background()
	var loads atomic.Int64
	c, err := New[int, int](WithLoader(func(_ context.Context, k int) (int, error) {
		loads.Add(1)
		return k, nil
	}))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	var n atomic.Int64
	benchpar.Run(b, 1, func(pb *benchpar.Iter) {
		for pb.Next() {
			if n.Add(1)%64 == 0 {
				c.Delete(ctx, 1)
			}
			c.Get(ctx, 1)
		}
	})
	b.ReportMetric(float64(loads.Load())/float64(b.N), "loads/op")
}
