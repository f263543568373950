package ratelimit

import (
	"context"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/internal/clock"
)

// GCRA keeps one number, the theoretical arrival time (TAT): the moment the bucket would be full again. Admitting
// n events moves it to max(TAT, now) + n·T, where T = Period/Limit is the emission interval; the admission is
// allowed when the new TAT is at most τ = burst·T ahead of now. A denial only reads the word.
//
// Time is kept in units of 1/k nanosecond, with k chosen so that T is a whole number of units for common rates
// (k is a multiple of Limit/gcd(Period, Limit) when that is at most 16, and at least 16). Where T is still
// fractional it is rounded up, so the limiter can only under-admit, by a relative error below 1/(16·T in ns).

const maxUnitScale = 16

// unitScale picks k for a rate (see above).
func unitScale(r Rate) int64 {
	g := gcd(uint64(r.Period), uint64(r.Limit))
	k0 := int64(uint64(r.Limit) / g)
	if k0 > maxUnitScale {
		return maxUnitScale
	}
	return k0 * ((maxUnitScale + k0 - 1) / k0)
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// gcraParams is swapped as a whole when the rate changes; the hot path loads it once per attempt.
type gcraParams struct {
	rate     Rate
	burst    int
	t        int64 // emission interval, units
	tau      int64 // burst·t, units
	maxQueue int64 // units of backlog allowed beyond τ; 0 means unbounded
}

func newParams(r Rate, burst, maxQueue int, k int64) (*gcraParams, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	hi, lo := bits.Mul64(uint64(r.Period), uint64(k))
	if hi != 0 || lo > 1<<62 {
		return nil, fmt.Errorf("ratelimit: Rate: period %s is too long", r.Period)
	}
	t := int64((lo + uint64(r.Limit) - 1) / uint64(r.Limit))
	hi, tau := bits.Mul64(uint64(t), uint64(burst))
	if hi != 0 || tau > 1<<61 {
		return nil, fmt.Errorf("ratelimit: WithBurst: burst %d at %s spans too long", burst, r)
	}
	p := &gcraParams{rate: r, burst: burst, t: t, tau: int64(tau)}
	if maxQueue > 0 {
		hi, q := bits.Mul64(uint64(t), uint64(maxQueue))
		if hi != 0 || q > 1<<61 {
			return nil, fmt.Errorf("ratelimit: WithMaxQueue: queue %d at %s spans too long", maxQueue, r)
		}
		p.maxQueue = int64(q)
	}
	return p, nil
}

// gcra is the engine of [TokenBucket] and [LeakyBucket].
type gcra struct {
	_   [64]byte
	tat atomic.Int64 // alone on its cache line: it is the only word the hot path writes
	_   [56]byte

	p          atomic.Pointer[gcraParams]
	clk        clock.Nanos
	k          int64
	burstFixed bool // the burst came from WithBurst, so SetRate keeps it
	queueFixed bool

	mu      sync.Mutex
	waiters waitList // guarded by mu; in reservation order, which is FIFO
}

func (g *gcra) init(r Rate, c *config, defaultBurst, defaultQueue func(Rate) int) error {
	if err := r.Validate(); err != nil {
		return err
	}
	g.k = unitScale(r)
	g.clk = clock.New(c.now)
	g.burstFixed, g.queueFixed = c.burst > 0, c.maxQueue > 0
	burst, queue := c.burst, c.maxQueue
	if burst == 0 {
		burst = defaultBurst(r)
	}
	if queue == 0 {
		queue = defaultQueue(r)
	}
	p, err := newParams(r, burst, queue, g.k)
	if err != nil {
		return err
	}
	g.p.Store(p)
	return nil
}

func (g *gcra) now() int64 { return g.clk.Now() * g.k }

// dur converts units to a duration, rounding up so that waiting that long is always enough.
func (g *gcra) dur(u int64) time.Duration { return unitsToDur(u, g.k) }

func (g *gcra) allow() bool {
	now := g.now()
	for {
		// Load the TAT before the params: a TAT written after a rate change is then read with the new params.
		tat := g.tat.Load()
		p := g.p.Load()
		nt := max(tat, now) + p.t
		if nt-now > p.tau {
			return false
		}
		if g.tat.CompareAndSwap(tat, nt) {
			return true
		}
	}
}

func (g *gcra) allowN(n int) Decision {
	if n < 0 {
		panic("ratelimit: AllowN: negative n")
	}
	now := g.now()
	for {
		tat := g.tat.Load()
		p := g.p.Load()
		if n > p.burst {
			return g.decision(p, tat, now, false, Forever)
		}
		nt := max(tat, now) + int64(n)*p.t
		if nt-now > p.tau {
			return g.decision(p, tat, now, false, g.dur(nt-p.tau-now))
		}
		if g.tat.CompareAndSwap(tat, nt) {
			return g.decision(p, nt, now, true, 0)
		}
	}
}

func (g *gcra) decision(p *gcraParams, tat, now int64, ok bool, retry time.Duration) Decision {
	return p.decision(tat, now, g.k, ok, retry)
}

// decision describes the state tat at now, in units of 1/k ns.
func (p *gcraParams) decision(tat, now, k int64, ok bool, retry time.Duration) Decision {
	d := Decision{Allowed: ok, Limit: p.burst, RetryAfter: retry}
	if tat <= now {
		d.Remaining = p.burst
		return d
	}
	d.Remaining = int(max(0, (now+p.tau-tat)/p.t)) // below 0 while waiters hold reservations
	d.ResetAfter = unitsToDur(tat-now, k)
	return d
}

// unitsToDur converts units of 1/k ns to a duration, rounding up so that waiting that long is always enough.
func unitsToDur(u, k int64) time.Duration {
	if u <= 0 {
		return 0
	}
	return time.Duration((u + k - 1) / k)
}

func (g *gcra) deadline(ctx context.Context) (int64, bool) { return deadlineUnits(ctx, &g.clk, g.k) }

// deadlineUnits returns ctx's deadline on clk in units of 1/k ns, or ok=false.
func deadlineUnits(ctx context.Context, clk *clock.Nanos, k int64) (int64, bool) {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0, false
	}
	ns := dl.Sub(clk.At(0))
	if ns > (1<<62)/time.Duration(k) {
		return 0, false
	}
	return int64(ns) * k, true
}

func (g *gcra) waitN(ctx context.Context, n int) error {
	if n < 0 {
		panic("ratelimit: WaitN: negative n")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := g.now()
	// Fast path: admitted now, no lock, no allocation.
	for {
		tat := g.tat.Load()
		p := g.p.Load()
		if n > p.burst {
			return fmt.Errorf("%w: n=%d, burst=%d", ErrExceedsBurst, n, p.burst)
		}
		nt := max(tat, now) + int64(n)*p.t
		if nt-now > p.tau {
			break
		}
		if g.tat.CompareAndSwap(tat, nt) {
			return nil
		}
	}
	// Slow path: reserve under mu, so that the waiter list always holds every reservation in the future. The
	// clock is read again: a reservation must not be based on a moment before the lock was won.
	g.mu.Lock()
	now = g.now()
	var w *waiter
	for {
		tat := g.tat.Load()
		p := g.p.Load()
		if n > p.burst {
			g.mu.Unlock()
			return fmt.Errorf("%w: n=%d, burst=%d", ErrExceedsBurst, n, p.burst)
		}
		cost := int64(n) * p.t
		nt := max(tat, now) + cost
		due := nt - p.tau
		if due > now {
			if p.maxQueue > 0 && due-now > p.maxQueue {
				g.mu.Unlock()
				return ErrQueueFull
			}
			if dl, ok := g.deadline(ctx); ok && due > dl {
				g.mu.Unlock()
				return fmt.Errorf("%w: n=%d needs %s", ErrWouldExceedDeadline, n, g.dur(due-now))
			}
		}
		if !g.tat.CompareAndSwap(tat, nt) {
			continue
		}
		if due <= now {
			g.mu.Unlock()
			return nil
		}
		w = newWaiter(n)
		w.cost, w.due = cost, due
		g.waiters.pushBack(w)
		break
	}
	g.mu.Unlock()
	return g.sleep(ctx, w)
}

// sleep blocks w until its slot, a re-plan, or ctx's end.
func (g *gcra) sleep(ctx context.Context, w *waiter) error {
	defer w.timer.Stop()
	g.mu.Lock()
	for {
		if w.err != nil { // removed by a re-plan that made it impossible
			g.mu.Unlock()
			return w.err
		}
		now := g.now()
		if w.due <= now {
			g.waiters.remove(w)
			g.mu.Unlock()
			return nil
		}
		w.timer.Reset(g.dur(w.due - now))
		g.mu.Unlock()
		select {
		case <-w.timer.C:
			g.mu.Lock()
		case <-w.wake:
			w.timer.Stop()
			g.mu.Lock()
		case <-ctx.Done():
			w.timer.Stop()
			g.mu.Lock()
			if w.err == nil && w.due > g.now() {
				g.refund(w)
				g.mu.Unlock()
				return ctx.Err()
			}
			// The slot came (or the waiter was failed) as ctx ended: report what really happened.
		}
	}
}

// refund gives back exactly what w reserved and moves every later waiter earlier by as much. It is exact: while a
// reservation is pending no admission can happen after it, so later reservations are all waiters, stacked on w's
// without any idle gap. Called with mu held.
func (g *gcra) refund(w *waiter) {
	g.tat.Add(-w.cost)
	for x := w.next; x != nil; x = x.next {
		x.due -= w.cost
		x.signal()
	}
	g.waiters.remove(w)
}

// setParams changes the rate and burst, re-planning every waiter under the new ones in the same order.
// A burst > 0 is kept across later rate changes; 0 keeps the current one, or follows Limit if it was a default.
func (g *gcra) setParams(r Rate, burst int) error {
	if err := r.Validate(); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.p.Load()
	fix := burst > 0
	if !fix {
		burst = old.burst
		if !g.burstFixed {
			burst = r.Limit
		}
	}
	queue := 0
	if old.maxQueue > 0 {
		queue = int(old.maxQueue / old.t)
		if !g.queueFixed {
			queue = r.Limit
		}
	}
	p, err := newParams(r, burst, queue, g.k)
	if err != nil {
		return err
	}
	g.burstFixed = g.burstFixed || fix
	now := g.now()
	g.p.Store(p)
	for {
		tat := g.tat.Load()
		base := tat
		for x := g.waiters.head; x != nil; x = x.next {
			base -= x.cost
		}
		// What admitted events still owe is kept as a number of events, repaid at the new interval.
		nt := now
		if base > now {
			nt = now + rescaleDebt(base-now, old.t, p.t)
		}
		for x := g.waiters.head; x != nil; x = x.next {
			if x.n > p.burst {
				continue
			}
			x.cost = int64(x.n) * p.t
			nt += x.cost
			x.due = nt - p.tau
		}
		if g.tat.CompareAndSwap(tat, nt) {
			break
		}
	}
	for x := g.waiters.head; x != nil; {
		next := x.next
		if x.n > p.burst {
			x.err = fmt.Errorf("%w: n=%d, burst=%d", ErrExceedsBurst, x.n, p.burst)
			g.waiters.remove(x)
		}
		x.signal()
		x = next
	}
	return nil
}

// rescaleDebt converts d units owed at an emission interval of oldT into the same number of events owed at newT.
// A result that does not fit is capped at 1<<61 units (years), so that a debt is kept, never wrapped.
func rescaleDebt(d, oldT, newT int64) int64 {
	hi, lo := bits.Mul64(uint64(d), uint64(newT))
	if hi >= uint64(oldT) { // the quotient does not fit 64 bits
		return 1 << 61
	}
	q, _ := bits.Div64(hi, lo, uint64(oldT))
	return int64(min(q, 1<<61))
}

func (g *gcra) rate() (Rate, int) {
	p := g.p.Load()
	return p.rate, p.burst
}
