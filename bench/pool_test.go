package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/puddle/v2"

	"github.com/sluice-go/sluice/internal/benchpar"
	"github.com/sluice-go/sluice/pool"
)

// poolImpl is one pool under test. cycle acquires an existing resource, calls hold (when not nil) while it is
// held, and releases it; it allocates nothing of its own, so allocs/op are the pool's.
type poolImpl struct {
	name string
	make func(b *testing.B, size int) (cycle func(context.Context, func()), close func())
}

var poolImpls = []poolImpl{
	{"sluice", func(b *testing.B, size int) (func(context.Context, func()), func()) {
		return newSluice(b, size)
	}},
	// With the opt-in coarse clock: idle stamps reuse a reading taken once per millisecond while the pool is busy.
	{"sluice-coarseclock", func(b *testing.B, size int) (func(context.Context, func()), func()) {
		return newSluice(b, size, pool.WithCoarseClock(time.Millisecond))
	}},
	{"puddle", func(b *testing.B, size int) (func(context.Context, func()), func()) {
		p, err := puddle.NewPool(&puddle.Config[*int]{
			Constructor: func(context.Context) (*int, error) { return new(int), nil },
			Destructor:  func(*int) {},
			MaxSize:     int32(size),
		})
		if err != nil {
			b.Fatal(err)
		}
		for range size {
			if err := p.CreateResource(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		return cycleOf(b, p.Acquire), p.Close
	}},
	{"floor-chan", func(b *testing.B, size int) (func(context.Context, func()), func()) {
		ch := make(chan *int, size)
		for range size {
			ch <- new(int)
		}
		return func(ctx context.Context, hold func()) {
			select {
			case r := <-ch:
				if hold != nil {
					hold()
				}
				ch <- r
			case <-ctx.Done():
				b.Fatal(ctx.Err())
			}
		}, func() {}
	}},
	{"floor-mutex", func(b *testing.B, size int) (func(context.Context, func()), func()) {
		p := &mutexPool{}
		p.cond.L = &p.mu
		for range size {
			p.idle = append(p.idle, new(int))
		}
		return func(_ context.Context, hold func()) {
			r := p.acquire()
			if hold != nil {
				hold()
			}
			p.release(r)
		}, func() {}
	}},
}

func newSluice(b *testing.B, size int, opts ...pool.Option) (func(context.Context, func()), func()) {
	p, err := pool.New(func(context.Context) (*int, error) { return new(int), nil },
		append([]pool.Option{pool.WithMaxSize(size)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	held := make([]*pool.Resource[*int], size)
	for i := range held {
		held[i], _ = p.Acquire(context.Background())
	}
	for _, r := range held {
		r.Release()
	}
	return cycleOf(b, p.Acquire), func() { _ = p.Close(context.Background()) }
}

// cycleOf makes the cycle func of a pool whose resources have a Release method.
func cycleOf[R interface{ Release() }](b *testing.B, acquire func(context.Context) (R, error)) func(context.Context, func()) {
	return func(ctx context.Context, hold func()) {
		r, err := acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if hold != nil {
			hold()
		}
		r.Release()
	}
}

// mutexPool is a floor: the textbook mutex, slice of idle resources and condition variable, with no fairness.
type mutexPool struct {
	mu   sync.Mutex
	cond sync.Cond
	idle []*int
}

func (p *mutexPool) acquire() *int {
	p.mu.Lock()
	for len(p.idle) == 0 {
		p.cond.Wait()
	}
	r := p.idle[len(p.idle)-1]
	p.idle = p.idle[:len(p.idle)-1]
	p.mu.Unlock()
	return r
}

func (p *mutexPool) release(r *int) {
	p.mu.Lock()
	p.idle = append(p.idle, r)
	p.mu.Unlock()
	p.cond.Signal()
}

// BenchmarkPoolAcquireRelease lends and returns an existing resource, uncontended and with 2 and 32 clients.
// The release func is a method value or closure for every implementation, so all pay the same call overhead.
func BenchmarkPoolAcquireRelease(b *testing.B) {
	ctx := context.Background()
	for _, size := range []int{1, 4, 64} {
		for _, clients := range []int{1, 2, 32} {
			for _, impl := range poolImpls {
				b.Run(fmt.Sprintf("size=%d/clients=%d/%s", size, clients, impl.name), func(b *testing.B) {
					cycle, closePool := impl.make(b, size)
					defer closePool()
					b.ReportAllocs()
					if clients == 1 {
						for b.Loop() {
							cycle(ctx, nil)
						}
						return
					}
					benchpar.Run(b, (clients+1)/2, func(pb *benchpar.Iter) {
						for pb.Next() {
							cycle(ctx, nil)
						}
					})
				})
			}
		}
	}
}

// BenchmarkPoolFairness has 32 clients share 2 resources, holding each briefly, and reports the 99th percentile
// wait over the mean: a FIFO pool keeps it low, a pool that lets newcomers barge makes some callers wait many
// turns. The percentile rather than the longest wait, which is one pause of the machine or the collector.
func BenchmarkPoolFairness(b *testing.B) {
	ctx := context.Background()
	for _, impl := range poolImpls {
		b.Run("size=2/clients=32/"+impl.name, func(b *testing.B) {
			cycle, closePool := impl.make(b, 2)
			defer closePool()
			b.ReportAllocs()
			var mu sync.Mutex
			var waits []time.Duration
			benchpar.Run(b, 16, func(pb *benchpar.Iter) {
				var local []time.Duration
				var start time.Time
				hold := func() {
					local = append(local, time.Since(start))
					for range 20 { // hold the resource for a moment
						_ = time.Now()
					}
				}
				for pb.Next() {
					start = time.Now()
					cycle(ctx, hold)
				}
				mu.Lock()
				waits = append(waits, local...)
				mu.Unlock()
			})
			if len(waits) == 0 {
				return
			}
			var sum time.Duration
			for _, w := range waits {
				sum += w
			}
			mean := float64(sum) / float64(len(waits))
			if mean > 0 {
				slices.Sort(waits)
				b.ReportMetric(float64(waits[len(waits)*99/100])/mean, "p99wait/meanwait")
			}
		})
	}
}
