package pool

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

// The fast path: a released resource is parked in one of a few slots and lent from there without the lock.
// The pool's books count a parked resource as lent, so only the lent/parked handover happens outside the lock.
//
// A slot is one word: the parked resource's index in Pool.all plus 1 (0: empty) in the low parkIDBits, and
// above them the number of acquisitions that took a resource from the slot, modulo 2^parkCountBits. Taking
// empties the slot and counts the acquisition in one compare-and-swap, so the fast path keeps exact Stats with
// no counter of its own, and the word holds no pointer, so its atomics need no write barrier. Pool.syncTakesLocked
// adds the counts to the books at least every 2^32 takes of a slot, long before they could wrap.
//
// A pool has up to four slots per core, at most maxParkSlots, and one if its maximum size is 1 when it is made.
// Each fills two cache lines, so that neither it nor the adjacent-line prefetcher's pair is shared with another
// slot. A goroutine starts looking at the slot its stack's address hashes to, so callers on different cores
// mostly keep to different slots, and a caller mostly gets back the resource it released last; it looks at the
// others before it takes the lock.
//
// Two busy goroutines that hash to the same slot share its line on every call, which costs each call several
// times its uncontended price. A Release that finds its own slot taken counts it in the slot; every
// rehashEvery counts, it changes the hash's multiplier, which deals every goroutine a new slot. Two goroutines
// that collided then collide again with a chance of one in the number of slots. With many more goroutines than
// slots, some always share one, and a change of multiplier every rehashEvery displacements costs each
// goroutine one read of the new multiplier.
const (
	parkIDBits    = 24
	parkIDMask    = 1<<parkIDBits - 1
	parkTake      = 1 << parkIDBits // one acquisition in the count
	parkCountBits = 64 - parkIDBits
	parkSyncMask  = 1<<32 - 1 // a take that brings the count's low 32 bits to 0 syncs the books
	maxParkSlots  = 8
	rehashEvery   = 1 << 12 // displacements counted in one slot between changes of the hash
	hintGolden    = 0x9E3779B97F4A7C15
)

type parkSlot struct {
	word      atomic.Uint64
	displaced atomic.Uint32 // Releases that found the slot taken
	seen      uint64        // the count of takes already in Pool.counts; guarded by Pool.mu
	_         [128 - 24]byte
}

// parkSlotsFor returns how many slots a pool of the given size has: a power of two, at most four per core, so
// that goroutines on different cores seldom start at the same slot, and one for a pool of one resource, which
// no two goroutines can use at once. A pool of fewer resources than slots has slots to spare, which keeps its
// goroutines apart as well as a large pool's.
func parkSlotsFor(size int) int {
	if size < 2 {
		return 1
	}
	n := 1
	for n*2 <= min(4*runtime.GOMAXPROCS(0), maxParkSlots) {
		n *= 2
	}
	return n
}

// hint returns the index of the caller's own slot: the address of a variable on its stack, in units of the
// smallest goroutine stack (2 KiB), hashed with the pool's multiplier. It differs between goroutines and stays
// the same for one, in practice, from one call to the next; a goroutine whose stack grew may straddle two units
// between an Acquire and a Release, which only costs a look at one more slot.
//
//go:nosplit
func (p *Pool[T]) hint() uint {
	var b byte
	return uint((uint64(uintptr(unsafe.Pointer(&b))>>11)*p.mult.Load())>>32) & uint(len(p.slots)-1)
}

// displaced counts a Release that found its own slot s taken, and every rehashEvery of them changes the hash
// that deals goroutines their slots.
func (p *Pool[T]) displaced(s *parkSlot) {
	if s.displaced.Add(1)%rehashEvery != 0 {
		return
	}
	old := p.mult.Load()
	p.mult.CompareAndSwap(old, nextMult(old)) // if another Release changed it meanwhile, that change will do
}

// nextMult returns the hint's next multiplier: the next output of a splitmix64 generator whose state is the
// current one, made odd, so it shares no structure with it.
func nextMult(m uint64) uint64 {
	m += hintGolden
	m = (m ^ m>>30) * 0xBF58476D1CE4E5B9
	m = (m ^ m>>27) * 0x94D049BB133111EB
	return (m ^ m>>31) | 1
}

// takeParked takes a parked resource, counting the acquisition in its slot, starting at the caller's own slot.
// It returns nil when every slot is empty.
func (p *Pool[T]) takeParked() *Resource[T] {
	n := uint(len(p.slots))
	h := p.hint()
	for i := range n {
		s := &p.slots[(h+i)&(n-1)]
		if v := s.word.Load(); v&parkIDMask != 0 && s.word.CompareAndSwap(v, v&^parkIDMask+parkTake) {
			if (v+parkTake)>>parkIDBits&parkSyncMask == 0 {
				p.mu.Lock()
				p.syncTakesLocked()
				p.mu.Unlock()
			}
			return p.parkedAt(v)
		}
	}
	return nil
}

// spinPolls bounds spinForRelease: about a microsecond of polling, the time a holder on another core takes to
// finish a short use.
const spinPolls = 32

// spinForRelease polls the slots for a resource released meanwhile, for an Acquire that found every resource
// lent and nobody queued, before it queues and sleeps: a release from another core then costs a
// compare-and-swap rather than a hand-off through the lock and a wake-up. It stops as soon as a waiter queues,
// so it never overtakes one, and returns nil if nothing came.
func (p *Pool[T]) spinForRelease() *Resource[T] {
	if p.spinning.Load() || !p.spinning.CompareAndSwap(false, true) {
		return nil // one spinner at a time: more would keep holders off the cores
	}
	defer p.spinning.Store(false)
	for range spinPolls {
		if p.gate.Load() != 0 {
			return nil
		}
		if r := p.takeParked(); r != nil {
			return r
		}
	}
	return nil
}

// parkedAt returns the resource whose index a slot word holds.
func (p *Pool[T]) parkedAt(v uint64) *Resource[T] { return (*p.table.Load())[v&parkIDMask-1] }

// parkInSlot leaves r, marked idle, in the caller's own slot. A resource it displaces there moves to the next
// slot, displacing that one's in turn, so that for one caller the slots hold the most recently released first in
// the order takeParked looks at them. It returns the slot and the word that hold r, for the caller to take r
// back if it finds it must not stay parked, whether it moved other resources, and the resource pushed out of
// the last slot, if any, for the idle stack.
func (p *Pool[T]) parkInSlot(r *Resource[T]) (s *parkSlot, v uint64, moved bool, out *Resource[T]) {
	n := uint(len(p.slots))
	h := p.hint()
	s = &p.slots[h]
	p.displaced(s)
	move := uint64(r.index) + 1
	for i := range n {
		t := &p.slots[(h+i)&(n-1)]
		for {
			old := t.word.Load()
			if nv := old&^parkIDMask | move; t.word.CompareAndSwap(old, nv) {
				if i == 0 {
					v = nv
				}
				move = old & parkIDMask
				break
			}
		}
		if move == 0 {
			return s, v, i > 0, nil
		}
	}
	return s, v, true, (*p.table.Load())[move-1]
}

// flushSlots empties the slots through the slow path, for a Release whose resources moved between slots just
// as Close, Reset, a resize or a waiter turned parking off.
func (p *Pool[T]) flushSlots() {
	for range 2 * len(p.slots) {
		p.mu.Lock()
		r := p.takeSlotLocked()
		p.mu.Unlock()
		if r == nil {
			return
		}
		r.state = stateLent
		p.put(r, 0, false)
	}
}

// unparkSlot takes r back from the slot where parkInSlot left it in word v, unless someone took it already.
func unparkSlot(s *parkSlot, v uint64) bool { return s.word.CompareAndSwap(v, v&^parkIDMask) }

// takeSlotLocked empties one slot, not counting it as an acquisition, and returns its resource, which the books
// count as lent already, or nil if every slot is empty. A resource from before the last Reset is retired
// instead and destroyed on its own goroutine (a Release that checked the generation just before Reset can park
// its resource just after Reset emptied the slots), and takeSlotLocked looks further.
func (p *Pool[T]) takeSlotLocked() *Resource[T] {
	for i := range p.slots {
		s := &p.slots[i]
		for {
			v := s.word.Load()
			if v&parkIDMask == 0 {
				break
			}
			if !s.word.CompareAndSwap(v, v&^parkIDMask) {
				continue
			}
			r := p.parkedAt(v)
			if r.gen == p.gen {
				return r
			}
			p.lent--
			p.retireLocked(r, ReasonReset)
			p.spawn(func() { p.finishDestroy(r, ReasonReset) })
			break
		}
	}
	return nil
}

// parkedLocked returns how many resources are parked.
func (p *Pool[T]) parkedLocked() int {
	n := 0
	for i := range p.slots {
		if p.slots[i].word.Load()&parkIDMask != 0 {
			n++
		}
	}
	return n
}

// syncTakesLocked adds the takes counted in the slots since the last sync to the books.
func (p *Pool[T]) syncTakesLocked() {
	for i := range p.slots {
		s := &p.slots[i]
		count := s.word.Load() >> parkIDBits
		p.counts.Acquires += int64((count - s.seen) & (1<<parkCountBits - 1))
		s.seen = count
	}
}

// registerLocked gives a new resource its index in p.all, reusing the index of a destroyed one if it can, and
// publishes p.all to the fast path when it grew.
func (p *Pool[T]) registerLocked(r *Resource[T]) {
	if n := len(p.free); n > 0 {
		r.index = p.free[n-1]
		p.free = p.free[:n-1]
		p.all[r.index] = r
		return
	}
	r.index = len(p.all)
	grown := len(p.all) == cap(p.all)
	p.all = append(p.all, r)
	if grown {
		table := p.all[:cap(p.all)]
		p.table.Store(&table)
	}
}

// unregisterLocked frees the index of a resource being destroyed.
func (p *Pool[T]) unregisterLocked(r *Resource[T]) {
	p.all[r.index] = nil
	p.free = append(p.free, r.index)
}
