package pool

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// A Release that checked the generation just before a Reset parks its resource just after, and finds it taken
// by the time it looks again: the resource, of the old generation, sits in the slot after Reset returned.
// Whoever takes it must retire it rather than lend it. The interleaving cannot be forced from outside, so each
// case builds the state that Release leaves, then takes the resource another way.
func TestResetRetiresResourceParkedDuringReset(t *testing.T) {
	takers := []struct {
		name string
		take func(t *testing.T, p *Pool[*conn]) *Resource[*conn]
	}{
		{"Acquire", func(t *testing.T, p *Pool[*conn]) *Resource[*conn] {
			r, err := p.Acquire(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return r
		}},
		{"TryAcquire", func(t *testing.T, p *Pool[*conn]) *Resource[*conn] {
			r, _ := p.TryAcquire()
			if r == nil {
				synctest.Wait() // the creation it started
				r, _ = p.TryAcquire()
			}
			return r
		}},
		{"Acquire through the lock", func(t *testing.T, p *Pool[*conn]) *Resource[*conn] {
			r, err := p.acquire(t.Context(), true) // as when a waiter is queued
			if err != nil {
				t.Fatal(err)
			}
			return r
		}},
		{"TryAcquire through the lock", func(t *testing.T, p *Pool[*conn]) *Resource[*conn] {
			r, _ := p.acquire(t.Context(), false)
			if r == nil {
				synctest.Wait()
				r, _ = p.acquire(t.Context(), false)
			}
			return r
		}},
		{"SetMaxSize, then Acquire", func(t *testing.T, p *Pool[*conn]) *Resource[*conn] {
			p.SetMaxSize(3) // empties the slot
			r, err := p.Acquire(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return r
		}},
		{"maintainer, then Acquire", func(t *testing.T, p *Pool[*conn]) *Resource[*conn] {
			p.sweep() // empties the slot
			r, err := p.Acquire(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return r
		}},
	}
	for _, tt := range takers {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, _ := newTestPool(t, WithMaxSize(2))
				defer closePool(t, p)
				old, _ := p.Acquire(t.Context())
				p.Reset()
				// The Release passed its generation check before the Reset and parks now.
				old.idleSince, old.state = p.now(), stateIdle
				p.parkForTest(old)
				r := tt.take(t, p)
				if r == nil {
					t.Fatal("no resource lent")
				}
				if r == old || r.gen != 1 {
					t.Fatalf("lent a resource of generation %d after Reset", r.gen)
				}
				r.Release()
				synctest.Wait()
				if !old.Value().closed.Load() || p.Stats().DestroyedBy(ReasonReset) != 1 {
					t.Fatalf("the old resource was not destroyed for the Reset: %+v", p.Stats())
				}
			})
		})
	}
}

// The same, with waiters queued: the resource taken from the slot must not be handed to the oldest of them.
func TestResetRetiresResourceParkedDuringResetBeforeWaiters(t *testing.T) {
	// take empties the slot and returns how many Acquire calls it added.
	for name, take := range map[string]func(p *Pool[*conn], got chan *Resource[*conn]) int{
		"by a later Acquire": func(p *Pool[*conn], got chan *Resource[*conn]) int {
			go func() {
				r, _ := p.Acquire(context.Background()) // a waiter is queued: through the lock
				got <- r
			}()
			return 1
		},
		"by SetMaxSize": func(p *Pool[*conn], got chan *Resource[*conn]) int {
			p.SetMaxSize(2)
			return 0
		},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, _ := newTestPool(t, WithMaxSize(2))
				defer closePool(t, p)
				old, _ := p.Acquire(t.Context())
				other, _ := p.Acquire(t.Context())
				p.Reset()
				got := make(chan *Resource[*conn], 2)
				go func() {
					r, _ := p.Acquire(context.Background())
					got <- r
				}()
				synctest.Wait() // queued
				old.idleSince, old.state = p.now(), stateIdle
				p.parkForTest(old)
				waiters := 1 + take(p, got)
				synctest.Wait()
				other.Release() // lent before Reset: retired, which makes room for the last waiter
				for range waiters {
					r := <-got
					if r == nil || r == old || r.gen != 1 {
						t.Fatal("a waiter was lent a resource of the generation before Reset")
					}
					r.Release()
				}
				synctest.Wait()
				if !old.Value().closed.Load() || p.Stats().DestroyedBy(ReasonReset) != 2 {
					t.Fatalf("the old resources were not destroyed for the Reset: %+v", p.Stats())
				}
			})
		})
	}
}

// Under -race, goroutines acquire and release while another resets the pool over and over: an Acquire that
// starts after a Reset returned never gets a resource of an earlier generation.
func TestResetNeverLendsOldGenerationStress(t *testing.T) {
	p, _ := newTestPool(t, WithMaxSize(8))
	defer closePool(t, p)
	var resets atomic.Uint64 // Resets that have returned
	stop := make(chan struct{})
	resetter := make(chan struct{})
	go func() {
		defer close(resetter)
		for {
			select {
			case <-stop:
				return
			default:
			}
			p.Reset()
			resets.Add(1)
			runtime.Gosched() // interleave with the acquirers rather than run in bursts
		}
	}()
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for i := range 5000 {
				before := resets.Load()
				r, err := p.Acquire(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if r.gen < before {
					t.Errorf("Acquire started after %d Resets lent a resource of generation %d", before, r.gen)
				}
				if i%4 == 0 {
					runtime.Gosched()
				}
				r.Release()
			}
		})
	}
	wg.Wait()
	close(stop)
	<-resetter
}
