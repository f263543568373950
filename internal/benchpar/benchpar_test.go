package benchpar

import (
	"runtime"
	"sync/atomic"
	"testing"
	"unsafe"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Run runs exactly b.N iterations over parallelism*GOMAXPROCS goroutines, and an iterator fills two cache lines
// of its own.
func TestRun(t *testing.T) {
	if size := unsafe.Sizeof(Iter{}); size != 128 {
		t.Fatalf("Iter is %d bytes, want 128", size)
	}
	for _, parallelism := range []int{0, 1, 3, 16} {
		var ran, goroutines atomic.Int64
		var n int
		testing.Benchmark(func(b *testing.B) {
			ran.Store(0)
			goroutines.Store(0)
			n = b.N
			Run(b, parallelism, func(it *Iter) {
				goroutines.Add(1)
				for it.Next() {
					ran.Add(1)
				}
			})
		})
		if got := ran.Load(); got != int64(n) {
			t.Errorf("parallelism %d: ran %d iterations, want b.N = %d", parallelism, got, n)
		}
		if got, want := goroutines.Load(), int64(max(parallelism, 1)*runtime.GOMAXPROCS(0)); got != want {
			t.Errorf("parallelism %d: %d goroutines, want %d", parallelism, got, want)
		}
	}
}

// Once the iterations run out, Next keeps reporting false.
func TestNextAfterEnd(t *testing.T) {
	it := &Iter{handed: new(paddedCounter), grain: 4, total: 10}
	got := 0
	for it.Next() {
		got++
	}
	if got != 10 {
		t.Fatalf("ran %d iterations, want 10", got)
	}
	if it.Next() {
		t.Fatal("Next after the end reported true")
	}
}
