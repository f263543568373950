package pool

import (
	"context"
	"testing"
	"testing/synctest"
)

func TestWaitersServedFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newTestPool(t, WithMaxSize(1))
		defer closePool(t, p)
		r, _ := p.Acquire(t.Context())
		const n = 20
		order := make(chan int, n)
		for i := range n {
			go func() {
				r, err := p.Acquire(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				order <- i
				r.Release()
			}()
			synctest.Wait() // waiter i is queued before waiter i+1 arrives
		}
		if s := p.Stats(); s.Waiting != n {
			t.Fatalf("Waiting = %d, want %d", s.Waiting, n)
		}
		r.Release()
		for want := range n {
			if got := <-order; got != want {
				t.Fatalf("waiter %d was served in place %d: waiters must be served in arrival order", got, want)
			}
		}
		if s := p.Stats(); s.Waits != n+1 || s.Waiting != 0 { // the first Acquire waited for a creation
			t.Fatalf("Stats = %+v", s)
		}
	})
}

// A caller that arrives while others wait must queue behind them even if a resource is released just then.
func TestNoBargingPastWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newTestPool(t, WithMaxSize(1))
		defer closePool(t, p)
		r, _ := p.Acquire(t.Context())
		served := make(chan string, 2)
		go func() {
			r, _ := p.Acquire(context.Background())
			served <- "waiter"
			r.Release()
		}()
		synctest.Wait()
		r.Release() // handed to the waiter, not left idle for the next caller
		if _, err := p.TryAcquire(); err == nil {
			t.Fatal("TryAcquire took a resource released to a waiter")
		}
		if got := <-served; got != "waiter" {
			t.Fatal(got)
		}
	})
}
