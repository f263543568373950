package pool

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

// withProcs runs the test with GOMAXPROCS n, so that pools made in it have that many parking slots.
func withProcs(t *testing.T, n int) {
	old := runtime.GOMAXPROCS(n)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
}

func TestParkSlotsFor(t *testing.T) {
	withProcs(t, 1)
	for size, want := range map[int]int{1: 1, 2: 4, 3: 4, 4: 4, 5: 4, 64: 4} {
		if got := parkSlotsFor(size); got != want {
			t.Errorf("parkSlotsFor(%d) at GOMAXPROCS 1 = %d, want %d", size, got, want)
		}
	}
	withProcs(t, 64)
	for _, size := range []int{2, 1000} {
		if got := parkSlotsFor(size); got != maxParkSlots {
			t.Errorf("parkSlotsFor(%d) at GOMAXPROCS 64 = %d, want %d", size, got, maxParkSlots)
		}
	}
}

// Whatever T is, the fields an Acquire and a Release touch in one resource are at least a cache line away from
// those of the next resource in memory, and a slot fills two cache lines.
func TestFastPathLayout(t *testing.T) {
	check := func(name string, hotEnd, size uintptr) {
		t.Helper()
		if gap := size - hotEnd; gap < 64 {
			t.Errorf("Resource[%s]: %d bytes after the hot fields, want at least 64", name, gap)
		}
	}
	check("*int", unsafe.Offsetof(Resource[*int]{}.state)+1, unsafe.Sizeof(Resource[*int]{}))
	check("[40]byte", unsafe.Offsetof(Resource[[40]byte]{}.state)+1, unsafe.Sizeof(Resource[[40]byte]{}))
	check("bool", unsafe.Offsetof(Resource[bool]{}.state)+1, unsafe.Sizeof(Resource[bool]{}))
	if size := unsafe.Sizeof(parkSlot{}); size != 128 {
		t.Errorf("parkSlot is %d bytes, want 128", size)
	}
}

// A Release that keeps finding its own slot taken, as when two busy goroutines hash to the same slot, changes
// the multiplier that deals the slots, every rehashEvery times; the pool works on as before.
func TestSlotsRehashAfterDisplacements(t *testing.T) {
	withProcs(t, 2)
	p, _ := newTestPool(t, WithMaxSize(4))
	defer closePool(t, p)
	p.mult.Store(0) // every goroutine hashes to slot 0
	if h := p.hint(); h != 0 {
		t.Fatalf("hint with multiplier 0 = %d, want 0", h)
	}
	ctx := context.Background()
	cycle := func() {
		a, errA := p.Acquire(ctx)
		b, errB := p.Acquire(ctx)
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		a.Release()
		b.Release() // finds slot 0 taken by a
	}
	for range rehashEvery - 1 {
		cycle()
	}
	if m := p.mult.Load(); m != 0 {
		t.Fatalf("multiplier changed to %#x after %d displacements, before %d", m, rehashEvery-1, rehashEvery)
	}
	cycle()
	m := p.mult.Load()
	if m == 0 || m&1 == 0 {
		t.Fatalf("multiplier after %d displacements = %#x, want a new odd one", rehashEvery, m)
	}
	if m2 := nextMult(m); m2 == m || m2&1 == 0 {
		t.Errorf("nextMult(%#x) = %#x, want another odd multiplier", m, m2)
	}
	for range 100 {
		cycle()
	}
	if s := p.Stats(); s.Total != 2 || s.Idle != 2 || s.Acquires != 2*(rehashEvery+100) {
		t.Errorf("Stats = %+v, want 2 resources idle and %d acquires", s, 2*(rehashEvery+100))
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
