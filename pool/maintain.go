package pool

import (
	"context"
	"time"
)

// sweepInterval is how often the maintainer runs: a quarter of the shortest time it watches, within
// [1ms, 30s], or 0 when nothing needs watching.
func (p *Pool[T]) sweepInterval() time.Duration {
	var every time.Duration
	for _, d := range []time.Duration{p.cfg.maxIdleTime, p.cfg.maxLifetime, p.cfg.keepalive, p.cfg.leakThreshold} {
		if d > 0 && (every == 0 || d < every) {
			every = d
		}
	}
	if every == 0 {
		return 0
	}
	return min(max(every/4, time.Millisecond), 30*time.Second)
}

// every calls fn every d until Close.
func (p *Pool[T]) every(d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			fn()
		}
	}
}

// maintain destroys idle resources past their idle time or lifetime, reports leaks and runs keepalive checks.
func (p *Pool[T]) maintain() {
	p.sweep()
	p.keepalive()
}

func (p *Pool[T]) sweep() {
	now := p.clk.Now()
	var dead []*Resource[T]
	var reasons []DestroyReason
	var leaks []Event
	p.mu.Lock()
	p.unparkLocked()                     // so the parked resource ages like the others
	spare := len(p.idle) - p.cfg.minIdle // idle resources that may go for idleness
	kept := p.idle[:0]
	for _, r := range p.idle { // oldest first
		reason := numReasons
		switch {
		case r.expiresAt != 0 && now >= r.expiresAt:
			reason = ReasonLifetime
		case p.cfg.maxIdleTime > 0 && spare > 0 && now-r.idleSince >= int64(p.cfg.maxIdleTime):
			reason = ReasonIdle
			spare--
		}
		if reason == numReasons {
			kept = append(kept, r)
			continue
		}
		p.retireLocked(r, reason)
		dead, reasons = append(dead, r), append(reasons, reason)
	}
	clear(p.idle[len(kept):])
	p.idle = kept
	if d := int64(p.cfg.leakThreshold); d > 0 {
		for _, r := range p.all {
			if r == nil {
				continue
			}
			if at := r.acquiredAt.Load(); at != 0 && at != r.reported && now-at >= d {
				r.reported = at
				leaks = append(leaks, Event{Kind: EventLeak, Duration: time.Duration(now - at), Stack: r.stackString()})
			}
		}
	}
	p.fillLocked(p.base)
	p.mu.Unlock()
	for i, r := range dead {
		p.finishDestroy(r, reasons[i])
	}
	if p.hook != nil {
		for _, e := range leaks {
			p.emit(e)
		}
	}
}

// keepalive checks, one at a time, every idle resource not used or checked for the keepalive interval. Only
// the resource under check leaves the idle set, so acquirers are never starved by the checks.
func (p *Pool[T]) keepalive() {
	if p.cfg.keepalive <= 0 {
		return
	}
	due := int64(p.cfg.keepalive)
	start := p.clk.Now()
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return
		}
		i := -1
		for j, r := range p.idle {
			if start-max(r.idleSince, r.checkedAt) >= due {
				i = j
				break
			}
		}
		if i < 0 {
			p.mu.Unlock()
			return
		}
		r := p.idle[i]
		p.idle = append(p.idle[:i], p.idle[i+1:]...)
		r.state = stateLent
		p.lent++
		p.mu.Unlock()

		ctx, cancel := context.WithTimeout(p.base, p.cfg.validateTimeout)
		err := p.validateFn(ctx, r.value)
		cancel()
		if err != nil {
			p.retireLent(r, ReasonValidation)
			continue
		}
		r.checkedAt = p.clk.Now()
		p.putBack(r)
	}
}

// putBack returns a resource taken by keepalive at the bottom of the idle stack, where it was, unless a
// waiter needs it.
func (p *Pool[T]) putBack(r *Resource[T]) {
	p.mu.Lock()
	if p.queue.n > 0 || p.retireReasonLocked(r, 0) != numReasons {
		p.mu.Unlock()
		p.put(r, 0, false)
		return
	}
	p.lent--
	r.state = stateIdle
	p.idle = append(p.idle, nil)
	copy(p.idle[1:], p.idle)
	p.idle[0] = r
	p.mu.Unlock()
}
