package pool

import (
	"context"
	"math/rand/v2"
	"time"
)

// fillLocked starts creations for the demand not yet covered: the waiters, plus the idle resources missing
// below WithMinIdle, within the maximum size and WithMaxConcurrentCreates. ctx gives the creations its values.
func (p *Pool[T]) fillLocked(ctx context.Context) {
	if p.closed {
		return
	}
	want := p.queue.n + max(0, p.cfg.minIdle-len(p.idle))
	for p.creating < want && p.creating < p.cfg.maxCreates && p.totalLocked() < p.maxSize {
		p.startCreateLocked(ctx)
	}
}

func (p *Pool[T]) startCreateLocked(ctx context.Context) {
	p.creating++
	p.spawn(func() { p.createOne(ctx) })
}

// createOne makes one resource on a context that keeps ctx's values, drops its cancellation, and is canceled by
// Close. The result goes to the oldest waiter: the resource, or the error so that a caller learns why the pool
// could not serve it. After a failure the next creation waits an exponential backoff.
func (p *Pool[T]) createOne(ctx context.Context) {
	p.mu.Lock()
	failures := p.failures
	p.mu.Unlock()
	if failures > 0 {
		t := time.NewTimer(p.backoff(failures))
		select {
		case <-t.C:
		case <-p.base.Done():
		}
		t.Stop()
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(p.base, cancel)
	if p.cfg.createTimeout > 0 {
		cctx, cancel = context.WithTimeout(cctx, p.cfg.createTimeout)
	}
	start := p.clk.Now()
	var v T
	err := p.base.Err()
	if err == nil {
		v, err = p.create(cctx)
	}
	cancel()
	stop()
	now := p.clk.Now()
	took := time.Duration(now - start)
	if err != nil {
		// Hooks first, so they see the creation before the waiter it serves sees its outcome.
		if p.hook != nil {
			p.emit(Event{Kind: EventCreateFailed, Duration: took, Err: err})
		}
		p.mu.Lock()
		p.creating--
		p.failures++
		p.counts.CreateFailed++
		if w := p.queue.pop(); w != nil {
			w.err = err
			w.ch <- nil
		}
		p.fillLocked(p.base)
		p.checkDrainedLocked()
		p.mu.Unlock()
		return
	}
	r := &Resource[T]{p: p, value: v, createdAt: now, idleSince: now, checkedAt: now}
	if d := p.cfg.maxLifetime; d > 0 {
		r.expiresAt = now + int64(d) - int64(rand.Float64()*p.cfg.lifetimeJitter*float64(d))
	}
	if p.hook != nil {
		p.emit(Event{Kind: EventCreated, Duration: took})
	}
	p.mu.Lock()
	p.creating--
	p.failures = 0
	p.counts.Created++
	r.gen = r.p.gen
	p.registerLocked(r)
	r.state = stateLent
	p.lent++
	// Close, or SetMaxSize shrinking the pool, may have come while the creation ran.
	if reason := p.retireReasonLocked(r, 0); reason != numReasons {
		p.mu.Unlock()
		p.retireLent(r, reason)
		return
	}
	if w := p.queue.pop(); w != nil {
		p.handOffLocked(r, w, now)
	} else {
		p.lent--
		r.state = stateIdle
		p.idle = append(p.idle, r)
	}
	p.fillLocked(p.base)
	p.mu.Unlock()
}

// backoff is the delay before a creation that follows n consecutive failures.
func (p *Pool[T]) backoff(n int) time.Duration {
	d := p.cfg.backoffMin
	for i := 1; i < n && d < p.cfg.backoffMax; i++ {
		d *= 2
	}
	return min(d, p.cfg.backoffMax)
}
