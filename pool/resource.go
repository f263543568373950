package pool

import (
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

const (
	stateIdle uint8 = iota
	stateLent
	stateGone
)

// Resource is one resource of a [Pool], lent to one holder between Acquire and Release or Destroy. Its methods
// are for that holder; Value may be called from several goroutines. The zero value is not usable.
//
// The fields an Acquire and a Release read or write come first, the rest after them, then padding: at least
// resourceGap bytes separate the first group of one resource from the first group of the next in memory,
// whatever T is, so two goroutines that each cycle their own resource never write to one cache line.
type Resource[T any] struct {
	// Read or written on every Acquire and Release.
	p          *Pool[T]
	value      T
	expiresAt  int64 // 0: never; jitter fixed at creation
	idleSince  int64 // last release, or creation; guarded by p.mu while idle
	gen        uint64
	index      int          // in p.all, fixed for the resource's life
	acquiredAt atomic.Int64 // with leak detection, 0 while not lent; written by the holder, read by the maintainer
	state      uint8        // guarded by p.mu while in the pool, owned by the holder while lent

	// Read and written off the fast path.
	createdAt int64                     // pool clock nanoseconds
	checkedAt int64                     // last keepalive check
	stack     atomic.Pointer[[]uintptr] // of the Acquire, with stacks on
	reported  int64                     // the acquiredAt already reported as a leak; maintainer only
	_         [resourceGap - 32]byte    // with the 32 bytes of the fields above, resourceGap after the hot ones
}

// resourceGap is the least distance between the last hot byte of one resource and the first of the next: a
// cache line.
const resourceGap = 64

// Value returns the resource.
func (r *Resource[T]) Value() T { return r.value }

// CreatedAt returns when the resource was created, on the pool's clock.
func (r *Resource[T]) CreatedAt() time.Time { return r.p.clk.At(r.createdAt) }

// IdleSince returns when the resource was last released, or created if it never was.
func (r *Resource[T]) IdleSince() time.Time { return r.p.clk.At(r.idleSince) }

// Release returns the resource to the pool: to the longest waiting Acquire, or to the idle set. A resource past
// its lifetime, or released after Close or Reset, is destroyed instead. Releasing a resource that is not lent
// (a second Release, or Release after Destroy) panics; the pool cannot detect a second Release once the resource
// has been lent again.
func (r *Resource[T]) Release() {
	p := r.p
	if now := p.now(); !p.park(r, now) {
		p.put(r, now, true)
	}
	if p.hook != nil {
		p.emit(Event{Kind: EventReleased})
	}
}

// ReleaseUnused returns the resource like Release but keeps its idle time running, for a resource that was
// acquired and not used, so idle timeouts and validation thresholds still apply.
func (r *Resource[T]) ReleaseUnused() {
	p := r.p
	var now int64
	if r.expiresAt != 0 {
		now = p.now()
	}
	p.put(r, now, false)
	if p.hook != nil {
		p.emit(Event{Kind: EventReleased})
	}
}

// Destroy tells the pool the resource is broken: it is destroyed with the WithDestroy func on another goroutine,
// and the pool creates a replacement when one is needed. Destroying a resource that is not lent panics.
func (r *Resource[T]) Destroy() { r.p.retireLent(r, ReasonBroken) }

// park is the fast path of Release: it leaves r in a slot without taking the lock, when no waiter, Close,
// Reset or resize needs the slow path, and reports whether it did. A resource it displaces from the caller's
// slot moves on to the next slot, and one pushed out of the last goes to the top of the idle stack, so reuse
// stays last in, first out.
func (p *Pool[T]) park(r *Resource[T], now int64) bool {
	if r.state != stateLent {
		panic(notLent)
	}
	if p.gate.Load() != 0 || r.gen != p.genNow.Load() || (r.expiresAt != 0 && now >= r.expiresAt) || r.index >= parkIDMask {
		return false
	}
	if p.cfg.leakThreshold > 0 {
		r.acquiredAt.Store(0)
	}
	r.idleSince, r.state = now, stateIdle
	s, id := &p.slots[p.hint()], uint64(r.index)+1
	var v uint64
	moved := false
	if old := s.word.Load(); old&parkIDMask == 0 && s.word.CompareAndSwap(old, old|id) {
		v = old | id // the caller's own slot was empty, as it mostly is
	} else {
		var out *Resource[T]
		if s, v, moved, out = p.parkInSlot(r); out != nil {
			out.state = stateLent
			p.put(out, now, false)
		}
	}
	if p.gate.Load() == 0 && r.gen == p.genNow.Load() {
		return true
	}
	// A waiter, Close, Reset or resize came meanwhile: take r back for the slow path, unless someone took it
	// already. Whoever did checks the generation, so r is not lent again if Reset came. Resources moved
	// between slots go through the slow path too.
	if moved {
		p.flushSlots()
		return true
	}
	if !unparkSlot(s, v) {
		return true
	}
	r.state = stateLent
	return false
}

const notLent = "pool: Release or Destroy of a resource that is not acquired (released twice, or after Destroy)"

// put returns a lent resource to the first waiter or the idle stack, or destroys it. now is the release time,
// used for the idle stamp when stamp is set and for the lifetime check.
func (p *Pool[T]) put(r *Resource[T], now int64, stamp bool) {
	if p.cfg.leakThreshold > 0 {
		r.acquiredAt.Store(0)
	}
	p.mu.Lock()
	if r.state != stateLent {
		p.mu.Unlock()
		panic(notLent)
	}
	if reason := p.retireReasonLocked(r, now); reason != numReasons {
		p.lent--
		p.retireLocked(r, reason)
		p.mu.Unlock()
		p.destroyAsync(r, reason)
		return
	}
	if stamp {
		r.idleSince = now
	}
	if w := p.queue.pop(); w != nil {
		if p.cfg.coarseClock > 0 {
			now = 0 // the waiter measures its wait with the exact clock: the hand-off must too
		}
		p.serveLocked(r, w, now)
		p.mu.Unlock()
		// Out of the lock: waking the waiter is the longest part of a hand-off. The waiter is off the queue, so
		// nobody else sends to it, and if it gives up meanwhile it waits for this send.
		w.ch <- r
		return
	}
	p.lent--
	r.state = stateIdle
	p.idle = append(p.idle, r)
	p.mu.Unlock()
}

// handOffLocked lends r to the waiter w, just taken from the queue, stamped with now (0: not read yet) as the
// end of its wait.
func (p *Pool[T]) handOffLocked(r *Resource[T], w *waiter[T], now int64) {
	p.serveLocked(r, w, now)
	w.ch <- r // buffered: never blocks
}

// serveLocked lends r to the waiter w, just taken from the queue, stamped with now (0: not read yet) as the end
// of its wait, short of sending r: the caller sends it on w.ch, with or without the lock.
func (p *Pool[T]) serveLocked(r *Resource[T], w *waiter[T], now int64) {
	if now == 0 {
		now = p.clk.Now()
	}
	w.served, r.state = now, stateLent
}

// retireLent destroys a lent resource.
func (p *Pool[T]) retireLent(r *Resource[T], reason DestroyReason) {
	if p.cfg.leakThreshold > 0 {
		r.acquiredAt.Store(0)
	}
	p.mu.Lock()
	if r.state != stateLent {
		p.mu.Unlock()
		panic(notLent)
	}
	p.lent--
	p.retireLocked(r, reason)
	p.mu.Unlock()
	p.destroyAsync(r, reason)
}

// retireLocked takes r out of the pool's books, keeping its slot counted as destroying until its WithDestroy
// func returns, so the pool never has more than its maximum size alive.
func (p *Pool[T]) retireLocked(r *Resource[T], reason DestroyReason) {
	p.unregisterLocked(r)
	r.state = stateGone
	p.destroying++
	p.counts.Destroyed[reason]++
	if p.gate.Load()&gateOver != 0 {
		p.syncOverLocked()
	}
}

func (p *Pool[T]) destroyAsync(r *Resource[T], reason DestroyReason) {
	if p.destroyFn == nil {
		p.finishDestroy(r, reason)
		return
	}
	p.spawn(func() { p.finishDestroy(r, reason) })
}

func (p *Pool[T]) destroyAll(rs []*Resource[T], reason DestroyReason) {
	for _, r := range rs {
		p.destroyAsync(r, reason)
	}
}

// finishDestroy runs the WithDestroy func, then frees the slot for a creation.
func (p *Pool[T]) finishDestroy(r *Resource[T], reason DestroyReason) {
	if p.destroyFn != nil {
		p.destroyFn(r.value)
	}
	p.mu.Lock()
	p.destroying--
	p.fillLocked(p.base)
	p.checkDrainedLocked()
	p.mu.Unlock()
	if p.hook != nil {
		p.emit(Event{Kind: EventDestroyed, Reason: reason})
	}
}

// stackString formats the acquire stack of a resource.
func (r *Resource[T]) stackString() string {
	pcs := r.stack.Load()
	if pcs == nil {
		return ""
	}
	var b strings.Builder
	frames := runtime.CallersFrames(*pcs)
	for {
		f, more := frames.Next()
		b.WriteString(f.Function)
		b.WriteString("\n\t")
		b.WriteString(f.File)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(f.Line))
		b.WriteByte('\n')
		if !more {
			return b.String()
		}
	}
}
