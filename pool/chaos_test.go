package pool

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestChaos runs many goroutines against a pool whose constructor fails or stalls at random, with validation
// failures, short lifetimes, idle timeouts, cancellations, destroys, resizes and resets, under -race, and
// checks the invariants throughout and that Close leaves nothing alive and no goroutine behind.
func TestChaos(t *testing.T) {
	const max = 4
	var created, destroyed, lent atomic.Int64
	var maxSize atomic.Int64
	maxSize.Store(max)
	type res struct {
		id      int64
		lent    atomic.Bool
		gone    atomic.Bool
		corrupt bool
	}
	errDial := errors.New("dial: connection refused")
	create := func(ctx context.Context) (*res, error) {
		if rand.IntN(5) == 0 {
			return nil, errDial
		}
		if rand.IntN(5) == 0 {
			select {
			case <-time.After(time.Duration(rand.IntN(3)) * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return &res{id: created.Add(1)}, nil
	}
	destroy := func(r *res) {
		if r.gone.Swap(true) {
			t.Errorf("resource %d destroyed twice", r.id)
		}
		if r.lent.Load() {
			t.Errorf("resource %d destroyed while lent", r.id)
		}
		destroyed.Add(1)
	}
	validate := func(ctx context.Context, r *res) error {
		if r.corrupt || rand.IntN(10) == 0 {
			return errors.New("ping failed")
		}
		return nil
	}
	p, err := New(create, WithMaxSize(max), WithMinIdle(1), WithDestroy(destroy),
		WithValidate(validate, 0, time.Second), WithMaxLifetime(20*time.Millisecond, 0.5),
		WithMaxIdleTime(5*time.Millisecond), WithCreateBackoff(100*time.Microsecond, time.Millisecond),
		WithMaxConcurrentCreates(2), WithCreateTimeout(time.Second),
		WithHook(func(e Event) {
			if e.Kind == EventCreated || e.Kind == EventDestroyed {
				if alive := created.Load() - destroyed.Load(); alive > int64(max)+1 {
					// max+1: a SetMaxSize(max+1) is in force at times.
					t.Errorf("%d resources alive", alive)
				}
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Go(func() {
			for i := range 400 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(2000))*time.Microsecond)
				var r *Resource[*res]
				var err error
				if i%7 == 0 {
					r, err = p.TryAcquire()
				} else {
					r, err = p.Acquire(ctx)
				}
				cancel()
				if err != nil {
					if !errors.Is(err, errDial) && !errors.Is(err, ErrExhausted) && ctx.Err() == nil {
						t.Errorf("Acquire: %v", err)
					}
					continue
				}
				v := r.Value()
				if v.lent.Swap(true) {
					t.Errorf("resource %d lent twice", v.id)
				}
				if v.gone.Load() {
					t.Errorf("resource %d lent after being destroyed", v.id)
				}
				lent.Add(1)
				if rand.IntN(3) == 0 {
					time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
				}
				v.lent.Store(false)
				switch rand.IntN(20) {
				case 0, 1:
					r.Destroy()
				case 2:
					r.ReleaseUnused()
				default:
					r.Release()
				}
				switch {
				case w == 0 && i%50 == 0:
					p.Reset()
				case w == 1 && i%30 == 0:
					p.SetMaxSize(max + i/30%2)
				}
				_ = p.Stats()
			}
		})
	}
	wg.Wait()
	s := p.Stats()
	if s.Waiting != 0 || s.InUse != 0 {
		t.Fatalf("nothing is lent or waiting, yet Stats = %+v", s)
	}
	if lent.Load() == 0 || s.Acquires != lent.Load() {
		t.Fatalf("Stats.Acquires = %d, lent %d", s.Acquires, lent.Load())
	}
	closePool(t, p)
	if created.Load() != destroyed.Load() {
		t.Fatalf("after Close: %d created, %d destroyed", created.Load(), destroyed.Load())
	}
	if s := p.Stats(); s.Total != 0 || s.Created != created.Load() {
		t.Fatalf("after Close: Stats = %+v, created %d", s, created.Load())
	}
	t.Logf("%d lent, %d created, %d create failures, destroyed by reason %v", lent.Load(), created.Load(),
		s.CreateFailed, s.Destroyed)
}

// TestCloseRacesWithUse closes a pool while goroutines lend and return its resources through both the fast
// and the slow path: every resource must be destroyed exactly once, and nothing lent once Close has returned.
func TestCloseRacesWithUse(t *testing.T) {
	for range 20 {
		p, b := newTestPool(t, WithMaxSize(3))
		var closed atomic.Bool
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					after := closed.Load()
					r, err := p.Acquire(context.Background())
					if err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("Acquire: %v", err)
						}
						return
					}
					if after {
						t.Error("Acquire succeeded after Close returned")
					}
					if rand.IntN(8) == 0 {
						r.Destroy()
					} else {
						r.Release()
					}
				}
			})
		}
		time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
		closePool(t, p)
		closed.Store(true)
		wg.Wait()
		if n := b.alive.Load(); n != 0 {
			t.Fatalf("%d conns alive after Close", n)
		}
		if s := p.Stats(); s.Total != 0 || s.Idle != 0 || s.InUse != 0 {
			t.Fatalf("after Close: %+v", s)
		}
	}
}
