package pool

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/sluice-go/sluice/internal/benchpar"
)

// chanPool is the floor: a buffered channel of ready resources, with no lifecycle, stats or fairness.
type chanPool struct{ ch chan *int }

func newChanPool(size int) *chanPool {
	p := &chanPool{ch: make(chan *int, size)}
	for range size {
		p.ch <- new(int)
	}
	return p
}

func (p *chanPool) acquire(ctx context.Context) (*int, error) {
	select {
	case r := <-p.ch:
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *chanPool) release(r *int) { p.ch <- r }

// mutexPool is the other floor: a mutex, a LIFO slice of idle resources and a FIFO of waiting channels.
type mutexPool struct {
	mu      sync.Mutex
	idle    []*int
	waiters []chan *int
}

func newMutexPool(size int) *mutexPool {
	p := &mutexPool{}
	for range size {
		p.idle = append(p.idle, new(int))
	}
	return p
}

func (p *mutexPool) acquire() *int {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		r := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return r
	}
	ch := make(chan *int, 1)
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	return <-ch
}

func (p *mutexPool) release(r *int) {
	p.mu.Lock()
	if len(p.waiters) > 0 {
		ch := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		ch <- r
		return
	}
	p.idle = append(p.idle, r)
	p.mu.Unlock()
}

// benchClients runs cycle on clients goroutines (serially when clients is 1).
func benchClients(b *testing.B, clients int, cycle func()) {
	b.ReportAllocs()
	if clients == 1 {
		for b.Loop() {
			cycle()
		}
		return
	}
	benchpar.Run(b, (clients+1)/2, func(pb *benchpar.Iter) {
		for pb.Next() {
			cycle()
		}
	})
}

func BenchmarkAcquireRelease(b *testing.B) {
	ctx := context.Background()
	for _, size := range []int{1, 4, 64} {
		for _, clients := range []int{1, 2, 32} {
			name := fmt.Sprintf("size=%d/clients=%d/", size, clients)
			b.Run(name+"sluice", func(b *testing.B) {
				p, err := New(func(context.Context) (*int, error) { return new(int), nil },
					WithMaxSize(size), WithMinIdle(size))
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close(ctx)
				warm(b, p, size)
				benchClients(b, clients, func() {
					r, err := p.Acquire(ctx)
					if err != nil {
						b.Fatal(err)
					}
					r.Release()
				})
			})
			b.Run(name+"chan", func(b *testing.B) {
				p := newChanPool(size)
				benchClients(b, clients, func() {
					r, _ := p.acquire(ctx)
					p.release(r)
				})
			})
			b.Run(name+"mutex", func(b *testing.B) {
				p := newMutexPool(size)
				benchClients(b, clients, func() { p.release(p.acquire()) })
			})
		}
	}
}

// warm waits until n resources are idle.
func warm[T any](b *testing.B, p *Pool[T], n int) {
	rs := make([]*Resource[T], n)
	for i := range rs {
		r, err := p.Acquire(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		rs[i] = r
	}
	for _, r := range rs {
		r.Release()
	}
}
