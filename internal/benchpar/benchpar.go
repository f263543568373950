// Package benchpar runs a parallel benchmark like testing.B.RunParallel, without the false sharing between the
// goroutines' iterators that RunParallel has. Sluice's in-memory benchmarks use it; those that wait on the
// network or a database keep b.RunParallel, where one shared cache line is lost in the noise.
//
// testing.PB, RunParallel's iterator, is 32 bytes and writes its count of remaining iterations on every Next.
// The goroutines allocate theirs as they start, often from the same span, so two iterators often share a cache
// line, and each iteration then pays for a line moving between cores. That cost is the same for every
// implementation measured, so it hides the difference between those that share nothing between cores: two
// goroutines cycling a pool of 64 resources measured 27 ns/op in most runs and 60-110 ns/op in others,
// depending on where the iterators landed. An Iter fills its own 128 bytes, two cache lines, so neither it nor
// a neighbour's data shares a line or an adjacent-line prefetch pair with another goroutine's iterator.
package benchpar

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// Run starts parallelism*GOMAXPROCS goroutines, as b.RunParallel does after b.SetParallelism(parallelism), that
// share b.N iterations, handing them out in batches, and calls body on each goroutine with its own iterator.
// body loops while it.Next() reports true; it may set up per-goroutine state before the loop.
func Run(b *testing.B, parallelism int, body func(it *Iter)) {
	n := max(parallelism, 1) * runtime.GOMAXPROCS(0)
	// Batches of about 1/64 of a goroutine's share, up to 10000: a short tail, and a shared write only every
	// few thousand iterations of a fast operation, like RunParallel's grain.
	grain := min(max(uint64(b.N/(64*n)), 1), 10000)
	handed := new(paddedCounter)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			body(&Iter{handed: handed, grain: grain, total: uint64(b.N)})
		})
	}
	wg.Wait()
}

// Iter is one Run goroutine's iterator, like testing.PB.
type Iter struct {
	handed *paddedCounter // iterations handed out, shared
	grain  uint64
	total  uint64
	left   uint64 // of the last batch taken
	_      [128 - 32]byte
}

// Next reports whether the goroutine has another iteration to run.
func (it *Iter) Next() bool {
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
