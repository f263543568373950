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

// A Release that parks its resource just as an Acquire queues takes the resource back out of the slot, unless
// something else took it first. When that something is a lock holder tidying the slot (SetMaxSize, Reset, the
// maintainer), the resource must go to the queued waiter, not to the idle stack where nobody would hand it over.
// The interleaving cannot be forced from outside, so the test builds the state the Release leaves: the waiter
// queued and the resource in the slot.
func TestSlotEmptiedWhileWaiterQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newTestPool(t, WithMaxSize(1))
		defer closePool(t, p)
		r, _ := p.Acquire(t.Context())
		got := make(chan *Resource[*conn], 1)
		go func() {
			r, _ := p.Acquire(t.Context())
			got <- r
		}()
		synctest.Wait() // queued
		// The Release saw no waiter, then parked r; it will find the slot emptied and leave r to whoever did it.
		r.idleSince, r.state = p.now(), stateIdle
		p.parkForTest(r)
		p.SetMaxSize(1)
		synctest.Wait()
		select {
		case r := <-got:
			r.Release()
		default:
			t.Fatalf("the waiter was not served the resource taken from the slot: %+v", p.Stats())
		}
	})
}
