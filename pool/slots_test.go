package pool

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// withProcs runs the test with GOMAXPROCS n, so that pools made in it have that many parking slots.
func withProcs(t *testing.T, n int) {
	old := runtime.GOMAXPROCS(n)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
}

func TestParkSlotsFor(t *testing.T) {
	withProcs(t, 1)
	for size, want := range map[int]int{1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 64: 4} {
		if got := parkSlotsFor(size); got != want {
			t.Errorf("parkSlotsFor(%d) at GOMAXPROCS 1 = %d, want %d", size, got, want)
		}
	}
	withProcs(t, 64)
	if got := parkSlotsFor(1000); got != maxParkSlots {
		t.Errorf("parkSlotsFor(1000) at GOMAXPROCS 64 = %d, want %d", got, maxParkSlots)
	}
}

// One caller releasing several resources gets them back most recent first, though they spread over the slots
// and the idle stack, and Stats counts the parked ones as idle.
func TestSlotsKeepLIFOForOneCaller(t *testing.T) {
	withProcs(t, 8)
	p, _ := newTestPool(t, WithMaxSize(16))
	defer closePool(t, p)
	if len(p.slots) != 8 {
		t.Fatalf("%d slots, want 8", len(p.slots))
	}
	ctx := context.Background()
	for _, n := range []int{1, 3, 8, 9, 16} {
		var rs []*Resource[*conn]
		for range n {
			r, err := p.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		for _, r := range rs {
			r.Release()
		}
		if s := p.Stats(); s.Idle != s.Total || s.InUse != 0 {
			t.Fatalf("%d released: Stats = %+v", n, s)
		}
		for i := n - 1; i >= 0; i-- {
			r, err := p.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r != rs[i] {
				t.Fatalf("%d released: Acquire lent conn %d, want conn %d, released %d of %d", n, r.Value().id,
					rs[i].Value().id, i+1, n)
			}
		}
		for _, r := range rs {
			r.Release()
		}
	}
}

// The take count of a slot is kept modulo 2^parkCountBits; the take that crosses each 2^32 syncs it into the
// books, so Stats.Acquires stays exact across both the sync boundary and the wrap of the count.
func TestSlotTakeCountWraps(t *testing.T) {
	for name, start := range map[string]uint64{
		"sync boundary": 1<<32 - 3,
		"wrap":          1<<parkCountBits - 3,
	} {
		t.Run(name, func(t *testing.T) {
			p, _ := newTestPool(t, WithMaxSize(1))
			defer closePool(t, p)
			r, err := p.Acquire(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			r.Release()
			base := p.Stats().Acquires
			// As if start takes happened and were synced.
			p.mu.Lock()
			s := &p.slots[0]
			s.word.Store(s.word.Load()&parkIDMask | start<<parkIDBits)
			s.seen = start
			p.mu.Unlock()
			for i := range 6 {
				r, err := p.Acquire(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				r.Release()
				if got, want := p.Stats().Acquires, base+int64(i)+1; got != want {
					t.Fatalf("after %d takes: Stats.Acquires = %d, want %d", i+1, got, want)
				}
			}
		})
	}
	// Without Stats in between, the take that crosses 2^32 syncs on its own.
	p, _ := newTestPool(t, WithMaxSize(1))
	defer closePool(t, p)
	r, _ := p.Acquire(context.Background())
	r.Release()
	p.mu.Lock()
	s := &p.slots[0]
	s.word.Store(s.word.Load()&parkIDMask | (1<<32-1)<<parkIDBits)
	s.seen = 1<<32 - 1
	before := p.counts.Acquires
	p.mu.Unlock()
	r, _ = p.Acquire(context.Background())
	r.Release()
	p.mu.Lock()
	synced := p.counts.Acquires - before
	p.mu.Unlock()
	if synced != 1 {
		t.Fatalf("the take crossing 2^32 synced %d takes, want 1", synced)
	}
}

// Under -race, with eight slots, many goroutines lend and return resources through the fast path while others
// reset, resize and read Stats: no resource is lent twice or after Reset, Stats.Acquires is exact, and Close
// destroys everything parked in any slot.
func TestSlotsStress(t *testing.T) {
	withProcs(t, 8)
	p, b := newTestPool(t, WithMaxSize(12))
	var lent, acquires atomic.Int64
	var holders sync.Map // *conn -> struct{}
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Go(func() {
			held := make([]*Resource[*conn], 0, 3)
			for i := range 3000 {
				if len(held) < cap(held) && (len(held) == 0 || rand.IntN(2) == 0) {
					// Only a caller holding nothing blocks: holding some while waiting for more could deadlock.
					var r *Resource[*conn]
					var err error
					if len(held) == 0 {
						r, err = p.Acquire(context.Background())
					} else if r, err = p.TryAcquire(); errors.Is(err, ErrExhausted) {
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					if _, dup := holders.LoadOrStore(r.Value(), struct{}{}); dup {
						t.Errorf("conn %d lent twice", r.Value().id)
					}
					if r.Value().closed.Load() {
						t.Errorf("conn %d lent after it was closed", r.Value().id)
					}
					lent.Add(1)
					acquires.Add(1)
					held = append(held, r)
					continue
				}
				k := rand.IntN(len(held))
				r := held[k]
				held = append(held[:k], held[k+1:]...)
				holders.Delete(r.Value())
				lent.Add(-1)
				if rand.IntN(50) == 0 {
					r.Destroy()
				} else {
					r.Release()
				}
				switch {
				case g == 0 && i%200 == 0:
					p.Reset()
				case g == 1 && i%150 == 0:
					p.SetMaxSize(12 + i/150%2)
				case g == 2 && i%10 == 0:
					if s := p.Stats(); s.Total > 13 {
						t.Errorf("Stats = %+v above the maximum size", s)
					}
				}
			}
			for _, r := range held {
				holders.Delete(r.Value())
				r.Release()
			}
		})
	}
	wg.Wait()
	if s := p.Stats(); s.Acquires != acquires.Load() || s.InUse != 0 || s.Idle == 0 {
		t.Fatalf("Stats = %+v, %d acquisitions", s, acquires.Load())
	}
	closePool(t, p)
	if n := b.alive.Load(); n != 0 {
		t.Fatalf("%d conns alive after Close", n)
	}
}

// An Acquire that finds every resource lent and nobody queued polls the slots before it queues: it takes a
// resource parked meanwhile, stops at once when a waiter queues (so it never overtakes one), and only one caller
// spins at a time.
func TestSpinForRelease(t *testing.T) {
	p, _ := newTestPool(t, WithMaxSize(1))
	defer closePool(t, p)
	r, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := p.spinForRelease(); got != nil {
		t.Fatal("spinForRelease took a resource with every slot empty")
	}
	r.idleSince, r.state = p.now(), stateIdle
	p.parkForTest(r)
	p.spinning.Store(true) // another caller spins
	if got := p.spinForRelease(); got != nil {
		t.Fatal("a second caller spun")
	}
	p.spinning.Store(false)
	p.gate.Add(1) // a waiter queued
	if got := p.spinForRelease(); got != nil {
		t.Fatal("spinForRelease took a resource past a queued waiter")
	}
	p.gate.Add(-1)
	got := p.spinForRelease()
	if got != r || p.spinning.Load() {
		t.Fatalf("spinForRelease = %v, spinning %v; want the parked resource, not spinning", got, p.spinning.Load())
	}
	got.state = stateLent
	got.Release()
}
