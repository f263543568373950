package bench

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

// runParallel is b.RunParallel without its false sharing: it starts parallelism*GOMAXPROCS goroutines that
// share b.N iterations, handing them out in batches, and calls body on each goroutine with its own iterator.
//
// testing.PB, RunParallel's iterator, is 32 bytes and writes its count of remaining iterations on every Next.
// The goroutines allocate theirs as they start, often from the same span, so two iterators often share a cache
// line, and each iteration then pays for a line moving between cores. That cost is the same for every
// implementation, so it hides the difference between those that share nothing: two goroutines cycling a pool
// of 64 resources measured 27 ns/op in most runs and 60-110 ns/op in some, depending only on where the
// iterators landed, and 27 ns/op in every run with runParallel. A parallelIter fills its own 128 bytes, two
// cache lines, so neither it nor a neighbour's data shares a line or an adjacent-line prefetch pair with another.
func runParallel(b *testing.B, parallelism int, body func(*parallelIter)) {
	n := parallelism * runtime.GOMAXPROCS(0)
	// Batches of about 1/64 of a goroutine's share, as few as keep the tail short: RunParallel's grain too is a
	// few thousand iterations for a fast operation.
	grain := min(max(uint64(b.N/(64*n)), 1), 10000)
	handed := new(paddedCounter)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			body(&parallelIter{handed: handed, grain: grain, total: uint64(b.N)})
		})
	}
	wg.Wait()
}

// parallelIter is one runParallel goroutine's iterator, like testing.PB.
type parallelIter struct {
	handed *paddedCounter // iterations handed out, shared
	grain  uint64
	total  uint64
	left   uint64 // of the last batch taken
	_      [128 - 32]byte
}

// Next reports whether the goroutine has another iteration to run.
func (it *parallelIter) Next() bool {
	if it.left == 0 {
		end := it.handed.n.Add(it.grain)
		switch {
		case end <= it.total:
			it.left = it.grain
		case end < it.total+it.grain:
			it.left = it.total + it.grain - end
		default:
			return false
		}
	}
	it.left--
	return true
}

// paddedCounter is a counter alone on its two cache lines.
type paddedCounter struct {
	_ [64]byte
	n atomic.Uint64
	_ [56]byte
}

// TestRunParallel checks that runParallel runs exactly b.N iterations over parallelism*GOMAXPROCS goroutines,
// and that an iterator fills two cache lines of its own.
func TestRunParallel(t *testing.T) {
	if size := unsafe.Sizeof(parallelIter{}); size != 128 {
		t.Fatalf("parallelIter is %d bytes, want 128", size)
	}
	for _, parallelism := range []int{1, 3, 16} {
		var ran, goroutines atomic.Int64
		var n int
		testing.Benchmark(func(b *testing.B) {
			ran.Store(0)
			goroutines.Store(0)
			n = b.N
			runParallel(b, parallelism, func(pb *parallelIter) {
				goroutines.Add(1)
				for pb.Next() {
					ran.Add(1)
				}
			})
		})
		if got := ran.Load(); got != int64(n) {
			t.Errorf("parallelism %d: ran %d iterations, want b.N = %d", parallelism, got, n)
		}
		if got, want := goroutines.Load(), int64(parallelism*runtime.GOMAXPROCS(0)); got != want {
			t.Errorf("parallelism %d: %d goroutines, want %d", parallelism, got, want)
		}
	}
}
