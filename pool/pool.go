package pool

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/internal/clock"
)

// Pool lends resources of type T, creating them on demand up to a maximum size and destroying them when they
// break, expire or idle too long. It is safe for concurrent use. The zero value is not usable; make one with [New].
type Pool[T any] struct {
	create     func(context.Context) (T, error)
	destroyFn  func(T)
	validateFn func(context.Context, T) error
	hook       func(Event) // nil without hooks
	cfg        config
	clk        clock.Nanos
	checks     bool // whether Acquire must read the clock to check a borrowed resource
	plain      bool // neither checks nor hooks: a resource taken from a slot is lent as it is
	spin       bool // whether an Acquire that finds everything lent polls the slots before it queues

	base    context.Context // canceled by Close, so creations and checks stop
	cancel  context.CancelFunc
	stop    chan struct{} // closed by Close to stop the maintainer
	running atomic.Int64  // pool goroutines: the maintainer, creations and destructions
	waiters sync.Pool     // of *waiter[T]

	// The fast path (slots.go). gate is nonzero while parking is off: waiters are queued (they must be served
	// first, by hand-off), the pool is closed, or it holds more than its maximum size. Parkers and the lock
	// holders that change gate follow the Dekker pattern: each writes its word, then reads the other's, so at
	// least one sees the other. Each on its own cache line: the gate is read on every call and rarely written,
	// the slots and the counter are written on every call.
	_         [64]byte
	gate      atomic.Int64  // 1 while waiters queue, plus gateClosed and gateOver
	genNow    atomic.Uint64 // copy of gen for the fast path
	_         [48]byte
	slots     []parkSlot                     // a power of two of them
	table     atomic.Pointer[[]*Resource[T]] // all, up to its capacity, for the fast path to find parked resources
	mult      atomic.Uint64                  // odd; hashes a goroutine's stack address to its slot
	_         [24]byte
	acquired  atomic.Int64 // acquisitions from the idle stack, minus takes from a slot that lent nothing
	_         [56]byte
	waits     atomic.Int64 // acquisitions that waited, counted by the waiter
	waitNanos atomic.Int64
	spinning  atomic.Bool // an Acquire is in spinForRelease
	_         [44]byte
	coarse    clock.Coarse // the hot path's clock, unless WithCoarseClock(0)
	_         [64]byte

	mu          sync.Mutex
	idle        []*Resource[T] // LIFO stack, warmest on top; guarded by mu
	all         []*Resource[T] // every resource not yet destroyed, at its index; nil where one was; guarded by mu
	free        []int          // indexes of all that are nil; guarded by mu
	queue       waitList[T]    // guarded by mu
	maxSize     int            // guarded by mu
	lent        int            // guarded by mu
	creating    int            // guarded by mu
	destroying  int            // guarded by mu
	gen         uint64         // bumped by Reset; guarded by mu
	failures    int            // consecutive creation failures; guarded by mu
	closed      bool           // guarded by mu
	drained     chan struct{}  // closed once closed, nothing exists and no pool goroutine runs; guarded by mu
	drainedDone bool           // guarded by mu
	counts      Stats          // counters only, Acquires the slots' takes synced so far; guarded by mu
}

// New returns a pool that makes resources with create. create receives a context that carries the values of
// the Acquire that asked for the resource, but not its cancellation: a caller who gives up does not abort the
// dial, and the resource goes to the next waiter or to the idle set. It is canceled by Close and bounded by
// [WithCreateTimeout]. New fails, naming the option, when an option is invalid.
func New[T any](create func(context.Context) (T, error), opts ...Option) (*Pool[T], error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	if create == nil {
		cfg.fail("New: create func must not be nil")
	}
	p := &Pool[T]{create: create, cfg: cfg, maxSize: cfg.maxSize, drained: make(chan struct{})}
	if cfg.destroy != nil {
		fn, ok := cfg.destroy.(func(T))
		if !ok {
			cfg.fail("WithDestroy: func must be func(%s), got %T", typeName[T](), cfg.destroy)
		}
		p.destroyFn = fn
	}
	if cfg.validate != nil {
		fn, ok := cfg.validate.(func(context.Context, T) error)
		if !ok {
			cfg.fail("WithValidate: func must be func(context.Context, %s) error, got %T", typeName[T](), cfg.validate)
		}
		p.validateFn = fn
	}
	if cfg.minIdle > cfg.maxSize {
		cfg.fail("WithMinIdle: count must be <= max size %d, got %d", cfg.maxSize, cfg.minIdle)
	}
	if cfg.keepalive > 0 && cfg.validate == nil {
		cfg.fail("WithKeepalive: needs WithValidate to check resources with, got interval %s", cfg.keepalive)
	}
	if len(cfg.errs) > 0 {
		return nil, errors.Join(cfg.errs...)
	}
	switch len(cfg.hooks) {
	case 0:
	case 1:
		p.hook = cfg.hooks[0]
	default:
		hooks := cfg.hooks
		p.hook = func(e Event) {
			for _, h := range hooks {
				h(e)
			}
		}
	}
	p.clk = clock.New(cfg.now)
	p.checks = cfg.maxLifetime > 0 || cfg.maxIdleTime > 0 || p.validateFn != nil || cfg.leakThreshold > 0
	p.plain = !p.checks && p.hook == nil
	p.spin = runtime.GOMAXPROCS(0) > 1
	p.base, p.cancel = context.WithCancel(context.Background())
	p.stop = make(chan struct{})
	p.queue.gate = &p.gate
	p.slots = make([]parkSlot, parkSlotsFor(cfg.maxSize))
	p.mult.Store(hintGolden)
	p.table.Store(new([]*Resource[T])) // published again, as a copy, whenever all grows
	p.waiters.New = func() any { return &waiter[T]{ch: make(chan *Resource[T], 1)} }
	if res := cfg.coarseClock; res > 0 {
		p.coarse.Start(p.clk, res)
	}
	if every := p.sweepInterval(); every > 0 {
		p.spawn(func() { p.every(every, p.maintain) })
	}
	p.mu.Lock()
	p.fillLocked(p.base)
	p.mu.Unlock()
	return p, nil
}

func typeName[T any]() string {
	var fn func(T)
	return fmt.Sprintf("%T", fn)[len("func(") : len(fmt.Sprintf("%T", fn))-1]
}

// Acquire lends an idle resource, the most recently used first, or waits for one. Waiters are served in the
// order they arrived. Acquire returns ctx.Err() if ctx ends first, a creation error if the creation made for
// it failed, and ErrClosed after Close.
func (p *Pool[T]) Acquire(ctx context.Context) (*Resource[T], error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p.gate.Load() == 0 {
		if r := p.takeParked(); r != nil {
			if p.plain && p.gate.Load()&gateClosed == 0 && r.gen == p.genNow.Load() {
				r.state = stateLent
				return r, nil
			}
			return p.lendParked(ctx, r, true)
		}
	}
	return p.acquire(ctx, true)
}

// lendParked lends r, just taken from a slot, unless the pool closed meanwhile or r dates from before a Reset.
// The take counted an acquisition, which is taken back if r is not lent.
func (p *Pool[T]) lendParked(ctx context.Context, r *Resource[T], block bool) (*Resource[T], error) {
	r.state = stateLent
	if p.gate.Load()&gateClosed != 0 {
		p.acquired.Add(-1)
		p.put(r, 0, false) // destroys it
		return nil, ErrClosed
	}
	if r.gen != p.genNow.Load() {
		p.acquired.Add(-1)
		p.retireLent(r, ReasonReset) // parked by a Release that raced with Reset
		return p.acquire(ctx, block)
	}
	if ok, err := p.checkBorrowed(ctx, r, block, true); !ok {
		p.acquired.Add(-1)
		if err != nil {
			return nil, err
		}
		return p.acquire(ctx, block)
	}
	return r, nil
}

// acquire lends an idle resource. Without block, it fails with ErrExhausted where Acquire would wait, and skips
// validation, which could block.
func (p *Pool[T]) acquire(ctx context.Context, block bool) (*Resource[T], error) {
	spin := block && p.spin
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		var r *Resource[T]
		if n := len(p.idle); n > 0 {
			r = p.popIdleLocked(n)
		} else {
			var w *waiter[T]
			if spin && p.queue.n == 0 && p.creating == 0 && p.totalLocked() >= p.maxSize {
				// Every resource is lent and nobody queues: one may come back in a moment.
				spin = false
				p.mu.Unlock()
				if r := p.spinForRelease(); r != nil {
					return p.lendParked(ctx, r, block)
				}
				continue
			}
			if block {
				// Queue first, then look at the slots: a parker either sees the waiter or its resource is found.
				w = p.waiters.Get().(*waiter[T])
				p.queue.push(w)
				for r = p.takeSlotLocked(); r != nil && p.queue.head != w; r = p.takeSlotLocked() {
					p.handOffLocked(r, p.queue.pop(), 0) // earlier waiters first
				}
			} else if p.queue.n == 0 {
				r = p.takeSlotLocked()
			}
			switch {
			case r != nil:
				if w != nil {
					p.queue.remove(w)
					p.waiters.Put(w)
				}
				r.state = stateLent
			case w != nil:
				return p.wait(ctx, w) // unlocks
			default:
				if p.creating == 0 && p.totalLocked() < p.maxSize {
					p.startCreateLocked(p.base)
				}
				p.mu.Unlock()
				return nil, ErrExhausted
			}
		}
		p.mu.Unlock()
		if ok, err := p.checkBorrowed(ctx, r, block, false); !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		return r, nil
	}
}

// popIdleLocked lends the top of the idle stack of n resources.
func (p *Pool[T]) popIdleLocked(n int) *Resource[T] {
	r := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	r.state = stateLent
	p.lent++
	if n <= p.cfg.minIdle {
		p.fillLocked(p.base)
	}
	return r
}

// checkBorrowed applies lifetime, idle time, validation (if validate) and leak stamps to a resource just taken
// from a slot (counted: the take counted the acquisition) or the idle stack. It returns false when the resource
// was destroyed and the caller should try another.
func (p *Pool[T]) checkBorrowed(ctx context.Context, r *Resource[T], validate, counted bool) (bool, error) {
	if !p.checks {
		p.acquiredHook(counted)
		return true, nil
	}
	now := p.now()
	switch {
	case r.expiresAt != 0 && now >= r.expiresAt:
		p.retireLent(r, ReasonLifetime)
		return false, nil
	case p.cfg.maxIdleTime > 0 && now-r.idleSince >= int64(p.cfg.maxIdleTime):
		p.retireLent(r, ReasonIdle)
		return false, nil
	case validate && p.validateFn != nil && now-r.idleSince >= int64(p.cfg.validateAfter):
		vctx, cancel := context.WithTimeout(ctx, p.cfg.validateTimeout)
		err := p.validateFn(vctx, r.value)
		cancel()
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				p.put(r, 0, false) // the caller gave up: the check proved nothing
				return false, cerr
			}
			p.retireLent(r, ReasonValidation)
			return false, nil
		}
		r.idleSince = now
	}
	p.stampLent(r, now)
	p.acquiredHook(counted)
	return true, nil
}

// acquiredHook counts an acquisition that did not wait, now that it reaches its caller, unless the take from a
// slot counted it, and reports it.
func (p *Pool[T]) acquiredHook(counted bool) {
	if !counted {
		p.acquired.Add(1)
	}
	if p.hook != nil {
		p.emit(Event{Kind: EventAcquired})
	}
}

// wait blocks the queued waiter w, with mu held, until a resource or an error is handed over or ctx ends.
func (p *Pool[T]) wait(ctx context.Context, w *waiter[T]) (*Resource[T], error) {
	p.fillLocked(ctx)
	p.mu.Unlock()
	start := p.clk.Now() // the server may have served w already: then the wait is 0
	var r *Resource[T]
	served := true
	if done := ctx.Done(); done == nil {
		r = <-w.ch // a context that never ends: a receive is cheaper than a select
	} else {
		select {
		case r = <-w.ch:
		case <-done:
			served = false
		}
	}
	if served {
		// The server stamped the hand-off with its own clock reading, so the waiter reads none.
		err, end := w.err, w.served
		w.err = nil
		p.waiters.Put(w)
		if err != nil {
			return nil, err
		}
		wait := max(end-start, 0)
		p.waits.Add(1)
		p.waitNanos.Add(wait)
		p.stampLent(r, end)
		if p.hook != nil {
			p.emit(Event{Kind: EventAcquired, Duration: time.Duration(wait)})
		}
		return r, nil
	}
	p.mu.Lock()
	if w.queued {
		p.queue.remove(w)
		p.gaveUpLocked(ctx)
		p.mu.Unlock()
	} else {
		// Served while giving up: take what was handed over, or is being handed over, and pass it on.
		p.gaveUpLocked(ctx)
		p.mu.Unlock()
		r := <-w.ch
		if r != nil {
			p.put(r, 0, false)
		}
		w.err = nil
	}
	p.waiters.Put(w)
	err := ctx.Err()
	if p.hook != nil {
		kind := EventCanceled
		if errors.Is(err, context.DeadlineExceeded) {
			kind = EventTimedOut
		}
		p.emit(Event{Kind: kind, Duration: time.Duration(p.clk.Now() - start)})
	}
	return nil, err
}

func (p *Pool[T]) gaveUpLocked(ctx context.Context) {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		p.counts.TimedOut++
	} else {
		p.counts.Canceled++
	}
}

// stampLent records when and where r was lent, for leak detection.
func (p *Pool[T]) stampLent(r *Resource[T], now int64) {
	if p.cfg.leakThreshold <= 0 {
		return
	}
	if p.cfg.leakStacks {
		pcs := make([]uintptr, 32)
		pcs = pcs[:runtime.Callers(4, pcs)]
		r.stack.Store(&pcs)
	}
	r.acquiredAt.Store(max(now, 1)) // 0 means not lent
}

// TryAcquire lends an idle resource without blocking and without creating one on the caller's goroutine. When
// none is idle it returns ErrExhausted and, if the pool is below its maximum size, starts creating one in the
// background for a later call. It does not run the WithValidate check, which could block.
func (p *Pool[T]) TryAcquire() (*Resource[T], error) {
	if p.gate.Load() == 0 {
		if r := p.takeParked(); r != nil {
			return p.lendParked(context.Background(), r, false)
		}
	}
	return p.acquire(context.Background(), false)
}

func (p *Pool[T]) totalLocked() int { return len(p.idle) + p.lent + p.creating + p.destroying }

// Stats returns a snapshot of the pool's gauges and counters. It takes the lock only to copy a few words.
func (p *Pool[T]) Stats() Stats {
	p.mu.Lock()
	s := p.counts
	s.MaxSize = p.maxSize
	s.Idle, s.InUse, s.Creating, s.Waiting = len(p.idle), p.lent, p.creating, p.queue.n
	s.Total = p.totalLocked()
	parked := p.parkedLocked()
	s.Idle += parked
	s.InUse -= parked
	p.syncTakesLocked()
	s.Acquires = p.counts.Acquires
	p.mu.Unlock()
	s.Waits, s.WaitTime = p.waits.Load(), time.Duration(p.waitNanos.Load())
	s.Acquires += p.acquired.Load() + s.Waits
	return s
}

// SetMaxSize changes the maximum size. Shrinking destroys idle resources beyond it at once and resources in
// use when they are released; growing serves waiters at once. It panics if n < 1.
func (p *Pool[T]) SetMaxSize(n int) {
	if n < 1 {
		panic(fmt.Sprintf("pool: SetMaxSize: size must be >= 1, got %d", n))
	}
	p.mu.Lock()
	p.maxSize = n
	p.unparkLocked()
	var dead []*Resource[T]
	for len(p.idle) > 0 && p.totalLocked()-p.destroying > n {
		r := p.idle[0]
		p.idle = append(p.idle[:0], p.idle[1:]...)
		p.retireLocked(r, ReasonResize)
		dead = append(dead, r)
	}
	p.syncOverLocked()
	p.fillLocked(p.base)
	p.mu.Unlock()
	p.destroyAll(dead, ReasonResize)
}

// Reset destroys every idle resource and retires every resource in use when it is released, as after a
// failover of the backend: no resource created before Reset is lent by an Acquire that starts after it
// returns. WithMinIdle resources are created again.
func (p *Pool[T]) Reset() {
	p.mu.Lock()
	p.gen++
	p.genNow.Store(p.gen)
	p.unparkLocked()
	dead := p.idle
	p.idle = nil
	for _, r := range dead {
		p.retireLocked(r, ReasonReset)
	}
	p.fillLocked(p.base)
	p.mu.Unlock()
	p.destroyAll(dead, ReasonReset)
}

// now reads the clock of the hot path: the coarse one unless WithCoarseClock(0).
func (p *Pool[T]) now() int64 {
	if p.cfg.coarseClock > 0 {
		return p.coarse.Now()
	}
	return p.clk.Now()
}

const (
	gateClosed = 1 << 40
	gateOver   = 1 << 41
)

// unparkLocked moves the parked resources to the first waiters or the idle stack, or retires those from before
// a Reset (see takeSlotLocked). A waiter can be queued while a resource is parked: a Release that parked just as
// the waiter queued leaves the resource to whoever empties the slot first. It takes at most one resource per
// slot, so releases parking meanwhile cannot keep it going.
func (p *Pool[T]) unparkLocked() {
	for range p.slots {
		r := p.takeSlotLocked()
		if r == nil {
			return
		}
		if p.queue.n > 0 && p.retireReasonLocked(r, p.clk.Now()) == numReasons {
			p.handOffLocked(r, p.queue.pop(), 0)
			continue
		}
		r.state = stateIdle
		p.lent--
		p.idle = append(p.idle, r)
	}
}

// syncOverLocked turns parking off while the pool holds more than its maximum size, so releases go through
// put, which destroys the surplus.
func (p *Pool[T]) syncOverLocked() {
	over := p.overLocked()
	if over != (p.gate.Load()&gateOver != 0) {
		if over {
			p.gate.Or(gateOver)
		} else {
			p.gate.And(^gateOver)
		}
	}
}

// overLocked reports whether the pool holds more than its maximum size, not counting resources being destroyed.
func (p *Pool[T]) overLocked() bool { return p.totalLocked()-p.destroying > p.maxSize }

// retireReasonLocked returns why r, lent or just created, must be destroyed rather than kept or lent again: the
// pool is closed or reset, r is past its lifetime at now (0: not checked), or the pool is over its maximum
// size. It returns numReasons if r may stay.
func (p *Pool[T]) retireReasonLocked(r *Resource[T], now int64) DestroyReason {
	switch {
	case p.closed:
		return ReasonClosed
	case r.gen != p.gen:
		return ReasonReset
	case r.expiresAt != 0 && now >= r.expiresAt:
		return ReasonLifetime
	case p.overLocked():
		return ReasonResize
	}
	return numReasons
}
