package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// call is one load or refresh of a key, shared by every Get that misses the key while it runs.
type call[V any] struct {
	done  chan struct{} // closed when entry and err are set
	entry Entry[V]
	err   error
}

// result is what a load produced: the entry for the waiters and the local tier, and the bytes to write to the
// remote tier.
type result[V any] struct {
	entry     Entry[V]
	err       error
	cache     bool   // store entry in the local tier
	remote    []byte // nil: nothing to write remotely
	remoteTTL time.Duration
}

// notFoundMarker is what the remote tier stores for a key cached as not found. No JSON encoding starts with a
// NUL byte, and other codecs are vanishingly unlikely to produce exactly these bytes.
var notFoundMarker = []byte("\x00sluice/cache:not-found")

// join returns the call running for key, or starts one. If the local tier has the key by the time the lock is
// held (a load finished meanwhile), it returns the entry with hit set instead, so that a key is read from the
// remote tier once per miss however the misses interleave. With refresh, a stale entry does not count as a hit.
func (c *Cache[K, V]) join(ctx context.Context, key K, refresh bool) (cl *call[V], e Entry[V], hit bool, err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, e, false, ErrClosed
	}
	if cl = c.flights[key]; cl != nil {
		c.mu.Unlock()
		return cl, e, false, nil
	}
	if e, ok := c.peek(key); ok && (!refresh || e.meta == notFound || c.clock.Now() <= e.meta) {
		c.mu.Unlock()
		return nil, e, true, nil
	}
	cl = &call[V]{done: make(chan struct{})}
	c.flights[key] = cl
	c.wg.Add(1)
	c.mu.Unlock()
	if refresh {
		c.st.refreshes.Add(1)
	}
	go c.fill(ctx, key, cl)
	return cl, e, false, nil
}

// forget detaches the call running for key, if any, so that its result does not fill the local tier: a write
// or an invalidation of the key happened while it ran. Its waiters still get its result. Needs mu.
func (c *Cache[K, V]) forget(key K) { delete(c.flights, key) }

// fill runs the call cl for key: remote tier, then loader.
func (c *Cache[K, V]) fill(parent context.Context, key K, cl *call[V]) {
	defer c.wg.Done()
	ctx, cancel := c.loadCtx(parent)
	defer cancel()
	released := false
	defer func() {
		if !released { // runtime.Goexit (or a panic outside the loader): answer the waiters, free the key
			c.st.loadErrors.Add(1)
			c.release(key, cl, result[V]{err: errGoexit}, false)
		}
	}()
	var rk string
	if c.remote != nil {
		rk = c.remoteKey(key)
	}
	r := c.fetch(ctx, key, rk)
	// The remote write comes before the waiters are released: when Get returns, another instance finds the
	// value in the remote tier instead of loading it again.
	wrote := c.writeRemote(ctx, key, cl, rk, r)
	current := c.release(key, cl, r, false)
	released = true
	if !current && wrote {
		c.undoRemote(ctx, rk)
	}
}

// loadCtx returns the context of a load started by a caller's parent: the caller's values, not its
// cancellation, bounded by the load timeout and cancelled by Close.
func (c *Cache[K, V]) loadCtx(parent context.Context) (context.Context, context.CancelFunc) {
	ctx := context.WithoutCancel(parent)
	var cancel context.CancelFunc
	if c.loadTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, c.loadTimeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	stop := context.AfterFunc(c.closing, cancel)
	return ctx, func() { stop(); cancel() }
}

// release stores r in the local tier, unless the key was written or invalidated while cl ran, and hands r to
// cl's waiters. It reports whether the key is still current (neither written nor invalidated). With keep, cl
// stays registered until settle, so that a write during a remote write that follows can still be detected;
// Gets that join it meanwhile get its result at once.
func (c *Cache[K, V]) release(key K, cl *call[V], r result[V], keep bool) (current bool) {
	c.mu.Lock()
	current = c.flights[key] == cl
	if current {
		if r.cache {
			c.store(key, r.entry)
		}
		if !keep {
			delete(c.flights, key)
		}
	}
	c.mu.Unlock()
	cl.entry, cl.err = r.entry, r.err
	close(cl.done)
	return current
}

// settle unregisters cl, kept by release, and reports whether the key is still current.
func (c *Cache[K, V]) settle(key K, cl *call[V]) (current bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flights[key] != cl {
		return false
	}
	delete(c.flights, key)
	return true
}

// store puts e in the local tier with its TTL. Needs mu.
func (c *Cache[K, V]) store(key K, e Entry[V]) {
	if e.meta == notFound {
		ttl := c.negTTL
		if ttl == 0 { // a negative entry written by an instance configured differently
			ttl = c.localTTL
		}
		c.local.SetWithTTL(key, e, c.jittered(ttl))
		return
	}
	ttl, fresh := c.localTTLs()
	e.meta = fresh
	c.local.SetWithTTL(key, e, ttl)
}

// fetch reads key from the remote tier, then from the loader.
func (c *Cache[K, V]) fetch(ctx context.Context, key K, rk string) result[V] {
	var remoteErr error
	if c.remote != nil {
		rctx, cancel := c.remoteCtx(ctx)
		b, found, err := c.remote.Get(rctx, rk)
		cancel()
		switch {
		case err != nil:
			c.st.remoteErrors.Add(1)
			remoteErr = err
		case found:
			if e, ok := c.decode(b); ok {
				return result[V]{entry: e, cache: true}
			}
		default:
			c.st.remoteMisses.Add(1)
		}
	}
	if c.loader == nil {
		if remoteErr != nil {
			return result[V]{err: fmt.Errorf("cache: remote: %w", remoteErr)}
		}
		return result[V]{entry: Entry[V]{meta: notFound}}
	}
	c.st.loads.Add(1)
	v, err := callLoader(ctx, key, c.loader)
	r := c.loaded(v, err)
	if remoteErr != nil {
		r.remote = nil // the remote tier just failed: do not make the caller wait for it twice
	}
	return r
}

// decode turns remote bytes into an entry, counting a remote hit; undecodable bytes count as a miss, and the
// load that follows overwrites them.
func (c *Cache[K, V]) decode(b []byte) (Entry[V], bool) {
	if bytes.Equal(b, notFoundMarker) {
		c.st.remoteHits.Add(1)
		c.st.negativeHits.Add(1)
		return Entry[V]{meta: notFound}, true
	}
	var e Entry[V]
	if err := c.codec.Unmarshal(b, &e.value); err != nil {
		c.st.decodeErrors.Add(1)
		c.st.remoteMisses.Add(1)
		return e, false
	}
	c.st.remoteHits.Add(1)
	return e, true
}

// loaded turns a loader's answer into a result: a value is cached in both tiers; ErrNotFound is cached only
// with negative caching on; any other error is returned and not cached.
func (c *Cache[K, V]) loaded(v V, err error) result[V] {
	switch {
	case err == nil:
		r := result[V]{entry: Entry[V]{value: v}, cache: true}
		if c.remote != nil {
			b, err := c.codec.Marshal(v)
			if err != nil {
				c.st.encodeErrors.Add(1)
				return r
			}
			r.remote, r.remoteTTL = b, c.jittered(c.remoteTTL)
		}
		return r
	case errors.Is(err, ErrNotFound):
		r := result[V]{entry: Entry[V]{meta: notFound}, cache: c.negTTL > 0}
		if r.cache && c.remote != nil {
			r.remote, r.remoteTTL = notFoundMarker, c.jittered(c.negTTL)
		}
		return r
	}
	c.st.loadErrors.Add(1)
	return result[V]{err: err}
}

// writeRemote stores a load's result in the remote tier, unless the key was written or invalidated meanwhile.
// It reports whether it wrote.
func (c *Cache[K, V]) writeRemote(ctx context.Context, key K, cl *call[V], rk string, r result[V]) bool {
	if r.remote == nil {
		return false
	}
	c.mu.Lock()
	current := c.flights[key] == cl
	c.mu.Unlock()
	if !current {
		return false
	}
	rctx, cancel := c.remoteCtx(ctx)
	err := c.remote.Set(rctx, rk, r.remote, r.remoteTTL)
	cancel()
	if err != nil {
		c.st.remoteErrors.Add(1)
		return false
	}
	return true
}

// undoRemote deletes what a load wrote to the remote tier when a write or invalidation of the key raced with
// it: the load's value may have overwritten the newer one, and deleting makes the next read go to the source.
func (c *Cache[K, V]) undoRemote(ctx context.Context, rk string) {
	rctx, cancel := c.remoteCtx(ctx)
	if c.remote.Delete(rctx, rk) != nil {
		c.st.remoteErrors.Add(1)
	}
	cancel()
}

// callLoader calls fn, turning a panic into an error wrapping ErrLoadAborted: the load runs on the cache's
// goroutine, where a panic would take the process down far from any caller. If fn calls runtime.Goexit, the
// goroutine ends here, and the deferred guard of the load answers its waiters.
func callLoader[K comparable, V any](ctx context.Context, key K, fn func(context.Context, K) (V, error)) (v V, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicked("loader", p)
		}
	}()
	return fn(ctx, key)
}

// panicked is the error of a load whose loader panicked with p. The panic value is in the text only, not in
// the error chain: a panic is never a "not found" answer to cache.
func panicked(who string, p any) error {
	return &abortError{what: fmt.Sprintf("%s panicked: %v", who, p), stack: debug.Stack()}
}
