package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	golanglru "github.com/hashicorp/golang-lru/v2"
	"github.com/maypok86/otter/v2"

	"github.com/sluice-go/sluice/cache/lru"
	"github.com/sluice-go/sluice/internal/benchpar"
)

// localCache is what the cache benchmarks drive: int keys to int values.
type localCache interface {
	Get(k int) (int, bool)
	Set(k, v int)
}

type sluiceLRU struct{ c *lru.Cache[int, int] }

func (s sluiceLRU) Get(k int) (int, bool) { return s.c.Get(k) }
func (s sluiceLRU) Set(k, v int)          { s.c.Set(k, v) }

type golangLRU struct{ c *golanglru.Cache[int, int] }

func (g golangLRU) Get(k int) (int, bool) { return g.c.Get(k) }
func (g golangLRU) Set(k, v int)          { g.c.Add(k, v) }

type otterCache struct{ c *otter.Cache[int, int] }

func (o otterCache) Get(k int) (int, bool) { return o.c.GetIfPresent(k) }
func (o otterCache) Set(k, v int)          { o.c.Set(k, v) }

// mutexMap is the floor: a map behind one mutex, with no eviction policy at all.
type mutexMap struct {
	mu sync.Mutex
	m  map[int]int // guarded by mu
}

func (f *mutexMap) Get(k int) (int, bool) {
	f.mu.Lock()
	v, ok := f.m[k]
	f.mu.Unlock()
	return v, ok
}

func (f *mutexMap) Set(k, v int) {
	f.mu.Lock()
	f.m[k] = v
	f.mu.Unlock()
}

type cacheImpl struct {
	name string
	// make returns a cache of the given capacity and a function that releases it.
	make func(tb testing.TB, capacity int) (localCache, func())
}

var cacheImpls = []cacheImpl{
	{"sluice-lru", func(tb testing.TB, capacity int) (localCache, func()) {
		c, err := lru.New[int, int](capacity)
		if err != nil {
			tb.Fatal(err)
		}
		return sluiceLRU{c}, func() {}
	}},
	{"golang-lru", func(tb testing.TB, capacity int) (localCache, func()) {
		c, err := golanglru.New[int, int](capacity)
		if err != nil {
			tb.Fatal(err)
		}
		return golangLRU{c}, func() {}
	}},
	{"otter", func(tb testing.TB, capacity int) (localCache, func()) { return newOtter(tb, capacity, nil) }},
	{"floor-mutex-map", func(tb testing.TB, capacity int) (localCache, func()) {
		return &mutexMap{m: make(map[int]int, capacity)}, func() {}
	}},
}

// ratioImpls are the caches of the hit-ratio table: the first three of cacheImpls and the exact, one-shard LRU.
var ratioImpls = append(cacheImpls[:3:3], cacheImpl{"sluice-lru-exact", func(tb testing.TB, capacity int) (localCache, func()) {
	c, err := lru.New[int, int](capacity, lru.WithShards(1))
	if err != nil {
		tb.Fatal(err)
	}
	return sluiceLRU{c}, func() {}
}})

// newOtter returns otter with the given executor; nil means otter's default, which runs maintenance tasks on
// new goroutines.
func newOtter(tb testing.TB, capacity int, executor func(func())) (localCache, func()) {
	c, err := otter.New(&otter.Options[int, int]{MaximumSize: capacity, Executor: executor})
	if err != nil {
		tb.Fatal(err)
	}
	return otterCache{c}, func() { c.StopAllGoroutines() }
}

// forTrace is what the hit-ratio replays use: otter with a synchronous executor, which gives its best hit
// ratio when one goroutine drives it (its default executor loses up to 2 points there).
func forTrace(tb testing.TB, impl cacheImpl, capacity int) (localCache, func()) {
	if impl.name == "otter" {
		return newOtter(tb, capacity, func(fn func()) { fn() })
	}
	return impl.make(tb, capacity)
}

// zipfKeys returns n keys in [0, keys) drawn from a Zipf distribution with exponent s, deterministically from
// seed. Ranks are scrambled by a permutation so that popular keys are not adjacent integers.
func zipfKeys(n, keys int, s float64, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	perm := rng.Perm(keys)
	out := make([]int, n)
	if s > 1 {
		z := rand.NewZipf(rng, s, 1, uint64(keys-1))
		for i := range out {
			out[i] = perm[z.Uint64()]
		}
		return out
	}
	// rand.NewZipf needs s > 1: invert the CDF over a table instead.
	cdf := make([]float64, keys)
	sum := 0.0
	for i := range cdf {
		sum += 1 / math.Pow(float64(i+1), s)
		cdf[i] = sum
	}
	for i := range out {
		out[i] = perm[sort.SearchFloat64s(cdf, rng.Float64()*sum)]
	}
	return out
}

const traceLen = 1 << 20

var (
	traceMu sync.Mutex
	traces  = map[string][]int{}
)

// trace memoizes zipfKeys, which is slow to build for long traces.
func trace(keys int, s float64) []int {
	traceMu.Lock()
	defer traceMu.Unlock()
	id := fmt.Sprint(keys, s)
	if t, ok := traces[id]; ok {
		return t
	}
	t := zipfKeys(traceLen, keys, s, 1)
	traces[id] = t
	return t
}

// BenchmarkCacheGetHit reads keys that are all present, Zipf(1.01)-distributed over the entries.
func BenchmarkCacheGetHit(b *testing.B) {
	for _, entries := range []int{10_000, 100_000} {
		keys := trace(entries, 1.01)
		for _, mode := range []string{"serial", "parallel"} {
			for _, impl := range cacheImpls {
				b.Run(fmt.Sprintf("entries=%s/%s/%s", count(entries), mode, impl.name), func(b *testing.B) {
					// Headroom, because a sharded cache splits its capacity per shard and keys hash unevenly.
					c, release := impl.make(b, entries+entries/8)
					defer release()
					for k := range entries {
						c.Set(k, k)
					}
					for _, k := range keys[:entries] { // let frequency-based policies see the workload
						c.Get(k)
					}
					runKeys(b, mode, keys, func(k int) {
						if _, ok := c.Get(k); !ok {
							b.Fatalf("miss on key %d", k)
						}
					})
				})
			}
		}
	}
}

// BenchmarkCacheSet overwrites present keys and inserts absent ones, half and half: the cache holds half of the
// key space, so the Zipf tail keeps evicting.
func BenchmarkCacheSet(b *testing.B) {
	for _, entries := range []int{10_000, 100_000} {
		keys := trace(2*entries, 1.01)
		for _, mode := range []string{"serial", "parallel"} {
			for _, impl := range cacheImpls {
				b.Run(fmt.Sprintf("entries=%s/%s/%s", count(entries), mode, impl.name), func(b *testing.B) {
					c, release := impl.make(b, entries)
					defer release()
					runKeys(b, mode, keys, func(k int) { c.Set(k, k) })
				})
			}
		}
	}
}

// runKeys calls op on successive keys of the trace: serially, or from benchpar.Run goroutines that each start
// at their own offset.
func runKeys(b *testing.B, mode string, keys []int, op func(k int)) {
	mask := len(keys) - 1 // traceLen is a power of two
	b.ReportAllocs()
	runtime.GC() // so that no collection of the set-up garbage runs in the timed loop
	b.ResetTimer()
	if mode == "serial" {
		i := 0
		for b.Loop() {
			op(keys[i&mask])
			i++
		}
		return
	}
	var next atomic.Uint64
	benchpar.Run(b, 1, func(pb *benchpar.Iter) {
		i := int(next.Add(1) * 0x9e3779b9)
		for pb.Next() {
			op(keys[i&mask])
			i++
		}
	})
}

func count(n int) string {
	if n%1000 == 0 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// hitRatio drives a cache with a trace serially, as "get, else set", and returns the hit percentage.
func hitRatio(c localCache, keys []int) float64 {
	hits := 0
	for _, k := range keys {
		if _, ok := c.Get(k); ok {
			hits++
		} else {
			c.Set(k, k)
		}
	}
	return 100 * float64(hits) / float64(len(keys))
}

const hitRatioKeys = 100_000

var hitRatioCases = []struct {
	s    float64
	size int // percent of the key space
}{{1.01, 1}, {1.01, 10}, {0.8, 1}, {0.8, 10}}

// BenchmarkCacheHitRatio reports the hit ratio (unit hit%) of each cache on scrambled Zipf traces of 1M requests
// over 100k keys, with the cache holding 1% or 10% of the keys. The time per op is that of replaying the trace.
func BenchmarkCacheHitRatio(b *testing.B) {
	for _, tc := range hitRatioCases {
		keys := trace(hitRatioKeys, tc.s)
		for _, impl := range ratioImpls {
			b.Run(fmt.Sprintf("zipf=%v/size=%d%%/%s", tc.s, tc.size, impl.name), func(b *testing.B) {
				var ratio float64
				for b.Loop() {
					c, release := forTrace(b, impl, hitRatioKeys*tc.size/100)
					ratio = hitRatio(c, keys)
					release()
				}
				b.ReportMetric(ratio, "hit%")
			})
		}
	}
}

// TestCacheHitRatio prints the hit-ratio table over the first 256k requests of each trace and checks that the sharded cache and the one-shard exact LRU
// stay within 0.5 points of golang-lru's exact LRU (or above it).
func TestCacheHitRatio(t *testing.T) {
	if testing.Short() {
		t.Skip("replays 1M-request traces")
	}
	var tab strings.Builder
	fmt.Fprintf(&tab, "\n%-16s", "trace, size")
	for _, impl := range ratioImpls {
		fmt.Fprintf(&tab, " %16s", impl.name)
	}
	for _, tc := range hitRatioCases {
		// A quarter of the trace keeps the test fast under -race; BenchmarkCacheHitRatio replays all of it.
		keys := trace(hitRatioKeys, tc.s)[:traceLen/4]
		fmt.Fprintf(&tab, "\nZipf %-4v, %3d%% ", tc.s, tc.size)
		got := map[string]float64{}
		for _, impl := range ratioImpls {
			c, release := forTrace(t, impl, hitRatioKeys*tc.size/100)
			got[impl.name] = hitRatio(c, keys)
			release()
			fmt.Fprintf(&tab, " %15.2f%%", got[impl.name])
		}
		for _, ours := range []string{"sluice-lru", "sluice-lru-exact"} {
			if d := got["golang-lru"] - got[ours]; d > 0.5 {
				t.Errorf("Zipf %v at %d%%: %s %.2f%% is %.2f points below golang-lru", tc.s, tc.size, ours,
					got[ours], d)
			}
		}
	}
	t.Log(tab.String())
}
