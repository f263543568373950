package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// waiter is a key of GetMany and the call that will answer it.
type waiter[K comparable, V any] struct {
	key K
	cl  *call[V]
}

// GetMany returns the values of the keys that exist; keys that do not are absent from the map. Local hits are
// answered at once; keys already being loaded (by Get or another GetMany) share that load; the rest are read
// from the remote tier in one multi-get, and what it misses from the bulk loader of [WithBulkLoader] in one
// call (or from the loader of [WithLoader], one call per key, up to 16 at once). If some keys fail to load, it
// returns the values it has with the first error. It returns ctx.Err() as soon as ctx is done.
func (c *Cache[K, V]) GetMany(ctx context.Context, keys []K) (map[K]V, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[K]V, len(keys))
	var missed []K
	for _, k := range keys {
		if e, ok := c.local.Get(k); ok {
			if v, err := c.localHit(ctx, k, e); err == nil {
				out[k] = v
			}
			continue
		}
		missed = append(missed, k)
	}
	if len(missed) == 0 {
		return out, nil
	}
	waits, batch, calls, hits, err := c.joinMany(missed)
	if err != nil {
		return out, err
	}
	for _, w := range hits {
		if v, err := c.localHit(ctx, w.key, w.cl.entry); err == nil {
			out[w.key] = v
		}
	}
	if len(batch) > 0 {
		go c.fillMany(ctx, batch, calls)
	}
	var firstErr error
	for _, w := range waits {
		select {
		case <-w.cl.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		switch {
		case w.cl.err != nil:
			if firstErr == nil {
				firstErr = w.cl.err
			}
		case w.cl.entry.meta != notFound:
			out[w.key] = w.cl.entry.value
		}
	}
	return out, firstErr
}

// joinMany is join for many keys under one lock: it returns the calls to wait for, the keys (and their new
// calls) the caller must load in one batch, and the keys that reached the local tier meanwhile (their entries
// in done calls).
func (c *Cache[K, V]) joinMany(keys []K) (waits []waiter[K, V], batch []K, calls []*call[V], hits []waiter[K, V], err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, nil, nil, nil, ErrClosed
	}
	for _, k := range keys {
		if cl := c.flights[k]; cl != nil {
			waits = append(waits, waiter[K, V]{k, cl})
			continue
		}
		if e, ok := c.peek(k); ok {
			hits = append(hits, waiter[K, V]{k, &call[V]{entry: e}})
			continue
		}
		cl := &call[V]{done: make(chan struct{})}
		c.flights[k] = cl
		batch, calls = append(batch, k), append(calls, cl)
		waits = append(waits, waiter[K, V]{k, cl})
	}
	if len(batch) > 0 {
		c.wg.Add(1)
	}
	return waits, batch, calls, hits, nil
}

// fillMany loads keys, each answering its call: one remote multi-get, then one bulk load (or a load per key).
func (c *Cache[K, V]) fillMany(parent context.Context, keys []K, calls []*call[V]) {
	defer c.wg.Done()
	ctx, cancel := c.loadCtx(parent)
	defer cancel()
	finished := false
	defer func() {
		if !finished {
			c.abandon(keys, calls)
		}
	}()
	rks := make([]string, len(keys))
	if c.remote != nil {
		for i, k := range keys {
			rks[i] = c.remoteKey(k)
		}
	}
	results := make([]result[V], len(keys))
	rest := make([]int, 0, len(keys)) // indexes the remote tier did not answer
	var remoteErr error
	if c.remote != nil {
		rctx, rcancel := c.remoteCtx(ctx)
		vals, found, err := c.remote.MGet(rctx, rks)
		rcancel()
		if err == nil && (len(vals) != len(keys) || len(found) != len(keys)) {
			err = fmt.Errorf("MGet returned %d values and %d flags for %d keys", len(vals), len(found), len(keys))
		}
		if err != nil {
			c.st.remoteErrors.Add(1)
			remoteErr = err
		}
		for i := range keys {
			if err == nil && found[i] {
				if e, ok := c.decode(vals[i]); ok {
					results[i] = result[V]{entry: e, cache: true}
					continue
				}
			} else if err == nil {
				c.st.remoteMisses.Add(1)
			}
			rest = append(rest, i)
		}
	} else {
		for i := range keys {
			rest = append(rest, i)
		}
	}
	c.loadMany(ctx, keys, rest, results, remoteErr)
	if remoteErr != nil { // the remote tier just failed: no write-back
		for i := range results {
			results[i].remote = nil
		}
	}
	// Unlike Get, the waiters are released before the remote writes, which take one round trip per key.
	for i, k := range keys {
		c.release(k, calls[i], results[i], results[i].remote != nil)
	}
	for i, k := range keys {
		if results[i].remote == nil {
			continue
		}
		wrote := c.writeRemote(ctx, k, calls[i], rks[i], results[i])
		if !c.settle(k, calls[i]) && wrote {
			c.undoRemote(ctx, rks[i])
		}
	}
	finished = true
}

// abandon ends the calls of a fillMany whose goroutine is exiting without finishing (runtime.Goexit in the bulk
// loader, or a panic outside the loaders): calls not yet answered get an error, and calls kept registered for
// their remote write are unregistered, so that no key stays held by a flight that will never end.
func (c *Cache[K, V]) abandon(keys []K, calls []*call[V]) {
	counted := false
	for i, k := range keys {
		select {
		case <-calls[i].done:
			c.settle(k, calls[i])
		default:
			if !counted {
				c.st.loadErrors.Add(1) // one aborted call, however many keys it was for
				counted = true
			}
			c.release(k, calls[i], result[V]{err: errGoexit}, false)
		}
	}
}

// maxParallelLoads bounds the loader calls one GetMany makes at once without a bulk loader.
const maxParallelLoads = 16

// loadMany fills results[i] for each i in rest from the bulk loader, or the loader.
func (c *Cache[K, V]) loadMany(ctx context.Context, keys []K, rest []int, results []result[V], remoteErr error) {
	if len(rest) == 0 {
		return
	}
	switch {
	case c.bulk != nil:
		ks := make([]K, len(rest))
		for j, i := range rest {
			ks[j] = keys[i]
		}
		c.st.loads.Add(uint64(len(ks)))
		m, err := callBulk(ctx, ks, c.bulk)
		if err != nil && !errors.Is(err, ErrNotFound) {
			c.st.loadErrors.Add(1) // one failed call, however many keys it was for
			for _, i := range rest {
				results[i] = result[V]{err: err}
			}
			return
		}
		for _, i := range rest {
			v, ok := m[keys[i]]
			if !ok {
				results[i] = c.loaded(v, ErrNotFound)
				continue
			}
			results[i] = c.loaded(v, nil)
		}
	case c.loader != nil:
		var wg sync.WaitGroup
		sem := make(chan struct{}, maxParallelLoads)
		for _, i := range rest {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				returned := false
				defer func() {
					if !returned { // runtime.Goexit: without this, the zero result would read as a value
						c.st.loadErrors.Add(1)
						results[i] = result[V]{err: errGoexit}
					}
				}()
				c.st.loads.Add(1)
				v, err := callLoader(ctx, keys[i], c.loader)
				results[i] = c.loaded(v, err)
				returned = true
			})
		}
		wg.Wait()
	default:
		for _, i := range rest {
			if remoteErr != nil {
				results[i] = result[V]{err: fmt.Errorf("cache: remote: %w", remoteErr)}
			} else {
				results[i] = result[V]{entry: Entry[V]{meta: notFound}}
			}
		}
	}
}

// callBulk is callLoader for the bulk loader.
func callBulk[K comparable, V any](ctx context.Context, keys []K, fn func(context.Context, []K) (map[K]V, error)) (m map[K]V, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicked("bulk loader", p)
		}
	}()
	return fn(ctx, keys)
}
