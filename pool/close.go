package pool

import (
	"context"
	"reflect"
	"runtime"
)

// Close stops lending: waiters and later calls get ErrClosed. It destroys idle resources, cancels creations
// under way, then waits until every lent resource is released or destroyed and every goroutine of the pool has
// returned, or ctx ends, in which case it returns ctx.Err() and resources still lent are destroyed when they are
// released. Calling Close again waits again.
//
// Called from a hook ([WithHook]), Close does all but the waiting and returns nil at once: a hook may run on
// one of the goroutines Close waits for, or in an Acquire whose resource Close would wait for. This holds for
// the hooks of any pool. Call Close again from elsewhere to wait for the end.
func (p *Pool[T]) Close(ctx context.Context) error {
	p.mu.Lock()
	var dead []*Resource[T]
	if !p.closed {
		p.closed = true
		p.gate.Or(gateClosed)
		p.unparkLocked()
		for w := p.queue.pop(); w != nil; w = p.queue.pop() {
			w.err = ErrClosed
			w.ch <- nil
		}
		dead = p.idle
		p.idle = nil
		for _, r := range dead {
			p.retireLocked(r, ReasonClosed)
		}
		close(p.stop)
		p.cancel()
	}
	if len(dead) > 0 {
		// On a pool goroutine, so that Close runs no hook of its own and its wait stays bounded by ctx.
		p.spawn(func() {
			for _, r := range dead {
				p.finishDestroy(r, ReasonClosed)
			}
		})
	}
	p.checkDrainedLocked()
	p.mu.Unlock()
	p.coarse.Stop()
	if inHook() {
		return nil
	}
	select {
	case <-p.drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// spawn runs fn on a goroutine of the pool, which Close waits for. The pool must hold a resource or a creation
// in its books, or not be closed yet, so that Close cannot find it drained before fn starts.
func (p *Pool[T]) spawn(fn func()) {
	p.running.Add(1)
	go func() {
		fn()
		if p.running.Add(-1) == 0 {
			p.mu.Lock()
			p.checkDrainedLocked()
			p.mu.Unlock()
		}
	}()
}

func (p *Pool[T]) checkDrainedLocked() {
	if p.closed && !p.drainedDone && p.totalLocked() == 0 && p.running.Load() == 0 {
		p.drainedDone = true
		close(p.drained)
	}
}

// emit calls the hooks with e.
func (p *Pool[T]) emit(e Event) { callHook(p.hook, e) }

// callHook calls hook. Its frame on a goroutine's stack is how Close knows that it was called from a hook, so it
// must stay a frame of its own.
//
//go:noinline
func callHook(hook func(Event), e Event) { hook(e) }

var callHookName = runtime.FuncForPC(reflect.ValueOf(callHook).Pointer()).Name()

// inHook reports whether the calling goroutine is running a hook, of any pool.
func inHook() bool {
	pcs := make([]uintptr, 64)
	for {
		n := runtime.Callers(2, pcs)
		if n < len(pcs) {
			pcs = pcs[:n]
			break
		}
		pcs = make([]uintptr, 2*len(pcs))
	}
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		if f.Function == callHookName {
			return true
		}
		if !more {
			return false
		}
	}
}
