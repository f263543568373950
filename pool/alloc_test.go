//go:build !race

// Allocation counts are meaningless under the race detector, whose sync.Pool drops items on purpose.

package pool

import (
	"context"
	"runtime"
	"sync"
	"testing"
)

func TestHotPathAllocatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("counts allocations")
	}
	p, _ := newTestPool(t, WithMaxSize(2), WithMaxIdleTime(100*3600e9))
	defer closePool(t, p)
	ctx := context.Background()
	r, _ := p.Acquire(ctx)
	r2, _ := p.Acquire(ctx)
	r2.Release()
	if n := testing.AllocsPerRun(1000, func() {
		r, _ := p.Acquire(ctx)
		r.Release()
	}); n != 0 {
		t.Fatalf("Acquire+Release of an idle resource: %v allocs, want 0", n)
	}
	r.Release()

	// The waiting path: 4 goroutines share one resource, so most acquisitions wait for a hand-off.
	p.SetMaxSize(1)
	const rounds = 20000
	var wg sync.WaitGroup
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 4 {
		wg.Go(func() {
			for range rounds {
				r, err := p.Acquire(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				runtime.Gosched()
				r.Release()
			}
		})
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	s := p.Stats()
	perOp := float64(after.Mallocs-before.Mallocs) / (4 * rounds)
	if s.Waits < rounds || perOp > 0.01 {
		t.Fatalf("%d waits, %.4f allocs per acquisition, want ~0", s.Waits, perOp)
	}
}
