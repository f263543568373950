package breaker

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// A window keeps the outcomes the rate rules look at: ring (count window) or buckets (time window). Both are
// O(1) per call, lock-free on the way in, and never run a goroutine. record adds one call made at now
// (nanoseconds; ignored by the count window) and says whether the rules must be evaluated, with the counts to
// evaluate; snapshot returns the counts as of now. A fresh window replaces the old one on reset, so a late
// writer to the old one cannot skew the new one.

// tally is what a window or a half-open breaker counts.
type tally struct {
	calls, failures, slow int
}

// Outcomes in a count window's slot: bits of one call.
const (
	slotCall = 1 << iota
	slotFail
	slotSlow
)

// The count window packs its three counts in one word so that one atomic add moves them together.
// Each field is biased, so a count that is briefly below zero (a writer that swapped its slot but has not
// added yet, while another one has) does not borrow from its neighbour.
const (
	fieldBits  = 21
	fieldMask  = 1<<fieldBits - 1
	fieldBias  = 1 << 19 // >= maxCountWindow, so bias + n + writers in flight fits in a field
	packedZero = fieldBias | fieldBias<<fieldBits | fieldBias<<(2*fieldBits)
)

// slotWeight[s] is what a slot holding s adds to the packed counts.
var slotWeight = func() (w [8]uint64) {
	for s := range w {
		if s&slotCall != 0 {
			w[s] = 1
			if s&slotFail != 0 {
				w[s] += 1 << fieldBits
			}
			if s&slotSlow != 0 {
				w[s] += 1 << (2 * fieldBits)
			}
		}
	}
	return w
}()

// ring is the count window: the last n calls, one slot each. A call takes the next slot with an atomic
// increment and swaps its outcome in; the counts move by the difference between the new and the old outcome.
// When the window is full of successes, another success changes nothing, so it writes nothing: a healthy
// breaker shares no written cache line between cores.
type ring struct {
	counts  atomic.Uint64 // packed, biased: calls | failures<<21 | slow<<42
	healthy uint64        // counts of a window full of successes
	_       [48]byte      // keep pos, written by every recording call, off the line every call reads
	pos     atomic.Uint64
	slots   []atomic.Uint32
}

func newRing(n int) *ring {
	r := &ring{slots: make([]atomic.Uint32, n), healthy: packedZero + uint64(n)}
	r.counts.Store(packedZero)
	return r
}

func (r *ring) record(_ int64, fail, slow bool) (tally, bool) {
	s := uint32(slotCall)
	if fail {
		s |= slotFail
	}
	if slow {
		s |= slotSlow
	}
	if s == slotCall && r.counts.Load() == r.healthy {
		return tally{}, false
	}
	i := (r.pos.Add(1) - 1) % uint64(len(r.slots))
	old := r.slots[i].Swap(s)
	var v uint64
	if old == s {
		if s == slotCall {
			return tally{}, false
		}
		v = r.counts.Load()
	} else {
		v = r.counts.Add(slotWeight[s] - slotWeight[old])
	}
	return unpack(v, len(r.slots)), true
}

func (r *ring) snapshot(int64) tally { return unpack(r.counts.Load(), len(r.slots)) }

func unpack(v uint64, n int) tally {
	field := func(shift int) int { return min(max(int(v>>shift&fieldMask)-fieldBias, 0), n) }
	return tally{calls: field(0), failures: field(fieldBits), slow: field(2 * fieldBits)}
}

// buckets is the time window: n buckets of width nanoseconds each; the bucket of epoch e = now/width lives at
// index e%n. Calls add to the current bucket; the first call of a new epoch rotates under a mutex (once per
// bucket width at most), zeroing the buckets that expired and summing the others into past, so evaluating the
// rules reads two sets of counters whatever n is. Calls that race with a rotation may land in the neighbouring
// bucket; the window is exact when calls do not straddle a bucket boundary.
//
// Every call adds to its bucket's call count, so that count is striped over cache lines, one per goroutine
// stack (see stripe), and cores do not fight over one line. Failures and slow calls are rare in a healthy
// window, so they are not striped.
type buckets struct {
	width   int64
	stripes int          // a power of two
	head    atomic.Int64 // the newest epoch rotated to, shifted left by headShift, with its bucket's index below
	past    [3]atomic.Int64
	mu      sync.Mutex // serialises rotations
	b       []bucket
	calls   []paddedCount // calls[i*stripes+s]: stripe s of bucket i
}

// headShift leaves room for a bucket index (at most 1024 buckets) under the epoch in buckets.head, so that a
// call finds both with one load and no division.
const headShift = 10

type bucket struct {
	failures, slow atomic.Int64
	_              [48]byte // one bucket per cache line
}

type paddedCount struct {
	n atomic.Int64
	_ [56]byte
}

func newBuckets(width int64, n int) *buckets {
	// Four stripes per core make two goroutines on different cores rarely share one; the cap bounds memory
	// (at most 1 MiB for 1024 buckets).
	s := 1
	for s < 4*runtime.GOMAXPROCS(0) && s < 16 {
		s *= 2
	}
	return &buckets{width: width, stripes: s, b: make([]bucket, n), calls: make([]paddedCount, n*s)}
}

// stripe picks a stripe from the address of the calling goroutine's stack: stable for a goroutine, different
// between goroutines (stacks are at least 8 KiB apart), and free to compute. A stack that grows may move to
// another stripe, which only costs a cache miss.
func (w *buckets) stripe() int {
	var x byte
	h := uint64(uintptr(unsafe.Pointer(&x))>>13) * 0x9E3779B97F4A7C15
	return int(h>>32) & (w.stripes - 1)
}

func (w *buckets) bucketCalls(i int64) int64 {
	var n int64
	for s := range w.stripes {
		n += w.calls[int(i)*w.stripes+s].n.Load()
	}
	return n
}

func (w *buckets) record(now int64, fail, slow bool) (tally, bool) {
	hw := w.head.Load()
	if now >= (hw>>headShift+1)*w.width {
		hw = w.rotate(now / w.width)
	}
	// A time before the head's bucket (a clock that stepped back, a call that started before a rotation)
	// counts in the head's bucket.
	i := hw & (1<<headShift - 1)
	w.calls[int(i)*w.stripes+w.stripe()].n.Add(1)
	bk := &w.b[i]
	if fail {
		bk.failures.Add(1)
	}
	if slow {
		bk.slow.Add(1)
	}
	// A success can only trip a rate rule by bringing the window up to the minimum number of calls while it
	// holds failures or slow calls.
	if !fail && !slow && w.past[1].Load() == 0 && w.past[2].Load() == 0 &&
		bk.failures.Load() == 0 && bk.slow.Load() == 0 {
		return tally{}, false
	}
	return tally{
		calls:    max(int(w.past[0].Load()+w.bucketCalls(i)), 0),
		failures: max(int(w.past[1].Load()+bk.failures.Load()), 0),
		slow:     max(int(w.past[2].Load()+bk.slow.Load()), 0),
	}, true
}

// rotate moves the window's head to epoch e, if it is not there or beyond already, and returns the head.
func (w *buckets) rotate(e int64) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	hw := w.head.Load()
	h := hw >> headShift
	if e <= h {
		return hw
	}
	n := int64(len(w.b))
	for k := max(h+1, e-n+1); k <= e; k++ {
		i := k % n
		w.b[i].failures.Store(0)
		w.b[i].slow.Store(0)
		for s := range w.stripes {
			w.calls[int(i)*w.stripes+s].n.Store(0)
		}
	}
	var past [3]int64
	for k := max(e-n+1, 0); k < e; k++ {
		i := k % n
		past[0] += w.bucketCalls(i)
		past[1] += w.b[i].failures.Load()
		past[2] += w.b[i].slow.Load()
	}
	for i := range past {
		w.past[i].Store(past[i])
	}
	hw = e<<headShift | e%n
	w.head.Store(hw)
	return hw
}

// setHead starts an empty window at epoch e.
func (w *buckets) setHead(e int64) { w.head.Store(e<<headShift | e%int64(len(w.b))) }

func (w *buckets) snapshot(now int64) tally {
	e, h, n := now/w.width, w.head.Load()>>headShift, int64(len(w.b))
	var t tally
	for k := max(h-n+1, e-n+1, 0); k <= h; k++ {
		i := k % n
		t.calls += int(w.bucketCalls(i))
		t.failures += int(w.b[i].failures.Load())
		t.slow += int(w.b[i].slow.Load())
	}
	return t
}
