package breaker

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice/internal/benchpar"
)

func benchBreaker(b *testing.B, opts ...Option) *Breaker {
	b.Helper()
	br, err := New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	return br
}

func ok(context.Context) error { return nil }

var errBench = errors.New("bench: dependency down")

// BenchmarkDo measures a closed breaker recording successes, for each kind of configuration, serial and
// parallel, beside a bare call and an atomic add.
func BenchmarkDo(b *testing.B) {
	ctx := context.Background()
	configs := []struct {
		name string
		opts []Option
	}{
		{"count-window", []Option{WithCountWindow(100)}},
		{"consecutive", []Option{WithConsecutiveFailures(5)}},
		{"time-window", []Option{WithTimeWindow(10*time.Second, 10)}},
		{"count-window+slow", []Option{WithCountWindow(100), WithSlowCallRate(0.5, time.Second)}},
	}
	for _, c := range configs {
		br := benchBreaker(b, c.opts...)
		b.Run(c.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = br.Do(ctx, ok)
			}
		})
		for _, g := range []int{1, 8} { // goroutines per core
			b.Run(fmt.Sprintf("%s/parallel-x%d", c.name, g), func(b *testing.B) {
				b.ReportAllocs()
				benchpar.Run(b, g, func(pb *benchpar.Iter) {
					for pb.Next() {
						_ = br.Do(ctx, ok)
					}
				})
			})
		}
	}
	b.Run("baseline-bare-call/serial", func(b *testing.B) {
		b.ReportAllocs()
		f := ok
		for b.Loop() {
			_ = f(ctx)
		}
	})
	b.Run("baseline-atomic-add/parallel", func(b *testing.B) {
		b.ReportAllocs()
		var n atomic.Int64
		benchpar.Run(b, 1, func(pb *benchpar.Iter) {
			for pb.Next() {
				n.Add(1)
			}
		})
	})
}

// BenchmarkAllowDone measures the two-step API on a closed breaker.
func BenchmarkAllowDone(b *testing.B) {
	br := benchBreaker(b, WithCountWindow(100))
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := br.Allow()
			if err == nil {
				p.Done(nil)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		benchpar.Run(b, 1, func(pb *benchpar.Iter) {
			for pb.Next() {
				p, err := br.Allow()
				if err == nil {
					p.Done(nil)
				}
			}
		})
	})
}

// BenchmarkRejectOpen measures rejecting calls while open.
func BenchmarkRejectOpen(b *testing.B) {
	ctx := context.Background()
	br := benchBreaker(b, WithConsecutiveFailures(1), WithOpenTimeout(time.Hour))
	_ = br.Do(ctx, func(context.Context) error { return errBench })
	if br.State() != StateOpen {
		b.Fatal("breaker did not open")
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = br.Do(ctx, ok)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		benchpar.Run(b, 1, func(pb *benchpar.Iter) {
			for pb.Next() {
				_ = br.Do(ctx, ok)
			}
		})
	})
}

// BenchmarkRecordMixed measures a closed count window that always holds some failures, so every call writes.
func BenchmarkRecordMixed(b *testing.B) {
	br := benchBreaker(b, WithCountWindow(100), WithFailureRate(1))
	call := func(i int) {
		p, _ := br.Allow()
		if i%50 == 0 {
			p.Record(Failure)
		} else {
			p.Record(Success)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			call(i)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		benchpar.Run(b, 1, func(pb *benchpar.Iter) {
			for i := 0; pb.Next(); i++ {
				call(i)
			}
		})
	})
}
