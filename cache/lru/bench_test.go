package lru

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice/internal/benchpar"
)

// benchKeys returns 1<<20 keys in [0, n), Zipf(1.01)-distributed, with popular keys scattered over the range.
func benchKeys(n int) []int {
	rng := rand.New(rand.NewPCG(1, 2))
	perm := rng.Perm(n)
	z := rand.NewZipf(rng, 1.01, 1, uint64(n-1))
	keys := make([]int, 1<<20)
	for i := range keys {
		keys[i] = perm[z.Uint64()]
	}
	return keys
}

// floorMap is the naive baseline: a map behind one mutex, with no recency or eviction.
type floorMap struct {
	mu sync.Mutex
	m  map[int]int // guarded by mu
}

func (f *floorMap) Get(k int) (int, bool) {
	f.mu.Lock()
	v, ok := f.m[k]
	f.mu.Unlock()
	return v, ok
}

// loop runs get over the keys serially, or from benchpar.Run goroutines that each start at their own offset.
func loop(b *testing.B, parallel bool, keys []int, get func(int) (int, bool)) {
	mask := len(keys) - 1
	b.ReportAllocs()
	runtime.GC() // so that no collection of the set-up garbage runs in the timed loop
	b.ResetTimer()
	if !parallel {
		i := 0
		for b.Loop() {
			if _, ok := get(keys[i&mask]); !ok {
				b.Fatal("miss")
			}
			i++
		}
		return
	}
	var next atomic.Uint64
	benchpar.Run(b, 1, func(pb *benchpar.Iter) {
		i := int(next.Add(1) * 0x9e3779b9)
		for pb.Next() {
			if _, ok := get(keys[i&mask]); !ok {
				b.Error("miss")
				return
			}
			i++
		}
	})
}

// BenchmarkGetHit reads present keys, Zipf-distributed, by shard count and with or without TTLs.
func BenchmarkGetHit(b *testing.B) {
	for _, entries := range []int{10_000, 100_000} {
		keys := benchKeys(entries)
		for _, mode := range []string{"serial", "parallel"} {
			for _, bc := range []struct {
				shards int
				ttl    time.Duration
				stats  bool
			}{{1, 0, true}, {8, 0, true}, {64, 0, true}, {64, time.Hour, true}, {64, 0, false}} {
				name := fmt.Sprintf("entries=%d/%s/shards=%d/ttl=%v/stats=%v", entries, mode, bc.shards, bc.ttl > 0,
					bc.stats)
				b.Run(name, func(b *testing.B) {
					opts := []Option{WithShards(bc.shards), WithTTL(bc.ttl)}
					if !bc.stats {
						opts = append(opts, WithStats(false))
					}
					c, err := New[int, int](entries+entries/2, opts...) // headroom for uneven shards
					if err != nil {
						b.Fatal(err)
					}
					for k := range entries {
						c.Set(k, k)
					}
					loop(b, mode == "parallel", keys, c.Get)
				})
			}
			b.Run(fmt.Sprintf("entries=%d/%s/floor-mutex-map", entries, mode), func(b *testing.B) {
				f := &floorMap{m: make(map[int]int, entries)}
				for k := range entries {
					f.m[k] = k
				}
				loop(b, mode == "parallel", keys, f.Get)
			})
		}
	}
}

// BenchmarkSet stores Zipf-distributed keys over twice the capacity, so that about half the calls evict.
func BenchmarkSet(b *testing.B) {
	const capacity = 10_000
	keys := benchKeys(2 * capacity)
	mask := len(keys) - 1
	for _, mode := range []string{"serial", "parallel"} {
		for _, ttl := range []time.Duration{0, time.Hour} {
			b.Run(fmt.Sprintf("%s/ttl=%v", mode, ttl > 0), func(b *testing.B) {
				c, err := New[int, int](capacity, WithTTL(ttl))
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				if mode == "serial" {
					i := 0
					for b.Loop() {
						c.Set(keys[i&mask], i)
						i++
					}
					return
				}
				var next atomic.Uint64
				benchpar.Run(b, 1, func(pb *benchpar.Iter) {
					i := int(next.Add(1) * 0x9e3779b9)
					for pb.Next() {
						c.Set(keys[i&mask], i)
						i++
					}
				})
			})
		}
	}
}
