package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/cache/lru"
	"github.com/sluice-go/sluice/internal/clock"
)

// Cache is a two-level cache: a local tier of typed values in front of an optional shared remote tier, in front
// of a loader that reads the source of truth. It is safe for concurrent use. The zero value is not usable; make
// one with [New], and call [Cache.Close] when done with it.
type Cache[K comparable, V any] struct {
	local     Local[K, Entry[V]]
	lru       *lru.Cache[K, Entry[V]]  // the default local tier, called directly on the hit path; nil if plugged
	peek      func(K) (Entry[V], bool) // reads the local tier without counting or reordering
	lruStats  func() lru.Stats         // the default tier's counters; nil for a plugged engine
	remote    Remote
	codec     Codec
	loader    func(context.Context, K) (V, error)
	bulk      func(context.Context, []K) (map[K]V, error)
	keyFunc   func(K) string
	keyParser func(string) (K, error)
	prefix    string // namespace and version of remote keys
	clock     clock.Nanos

	localTTL, remoteTTL, negTTL, swr time.Duration
	remoteTimeout, loadTimeout       time.Duration
	jitter                           float64

	sub Subscription

	// closing is cancelled by Close, ending loads that outlive their callers.
	closing context.Context
	cancel  context.CancelFunc

	mu      sync.Mutex
	flights map[K]*call[V] // guarded by mu: the load or refresh running for each key
	closed  bool           // guarded by mu
	wg      sync.WaitGroup // the cache's goroutines: loads, refreshes, remote writes

	st counters
}

// New returns a cache configured by opts. With no option it is a local LRU of [DefaultLocalCapacity] entries
// with [DefaultLocalTTL] and no loader: useful once [WithRemote] or [WithLoader] gives it something to read.
// It fails if an option is invalid; the error names the option.
func New[K comparable, V any](opts ...Option) (*Cache[K, V], error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	c := &Cache[K, V]{
		remote:        cfg.remote,
		codec:         cfg.codec,
		clock:         clock.New(cfg.now),
		localTTL:      cfg.localTTL,
		remoteTTL:     cfg.remoteTTL,
		negTTL:        cfg.negativeTTL,
		swr:           cfg.swr,
		remoteTimeout: cfg.remoteTimeout,
		loadTimeout:   cfg.loadTimeout,
		jitter:        cfg.jitter,
		flights:       make(map[K]*call[V]),
	}
	if err := c.configure(&cfg); err != nil {
		return nil, err
	}
	c.closing, c.cancel = context.WithCancel(context.Background())
	if cfg.invalidator != nil {
		sub, err := cfg.invalidator.Subscribe(context.Background(), handler[K, V]{c})
		if err != nil {
			c.cancel()
			return nil, fmt.Errorf("cache: WithInvalidation: subscribe: %w", err)
		}
		c.sub = sub
	}
	return c, nil
}

// configure validates cfg and fills in the typed parts of c.
func (c *Cache[K, V]) configure(cfg *config) error {
	switch {
	case cfg.localTTL < 0:
		return fmt.Errorf("cache: WithLocal: ttl must be >= 0, got %s", cfg.localTTL)
	case cfg.remoteTTL < 0:
		return fmt.Errorf("cache: WithRemoteTTL: ttl must be >= 0, got %s", cfg.remoteTTL)
	case cfg.remoteTimeout < 0:
		return fmt.Errorf("cache: WithRemoteTimeout: timeout must be >= 0, got %s", cfg.remoteTimeout)
	case cfg.loadTimeout < 0:
		return fmt.Errorf("cache: WithLoadTimeout: timeout must be >= 0, got %s", cfg.loadTimeout)
	case cfg.codec == nil:
		return fmt.Errorf("cache: WithCodec: codec must not be nil")
	case cfg.negativeTTL < 0:
		return fmt.Errorf("cache: WithNegativeTTL: ttl must be >= 0, got %s", cfg.negativeTTL)
	case !(cfg.jitter >= 0 && cfg.jitter < 1):
		return fmt.Errorf("cache: WithTTLJitter: fraction must be in [0, 1), got %v", cfg.jitter)
	case cfg.swr < 0:
		return fmt.Errorf("cache: WithStaleWhileRevalidate: window must be >= 0, got %s", cfg.swr)
	case cfg.swr > 0 && cfg.localTTL == 0:
		return fmt.Errorf("cache: WithStaleWhileRevalidate: needs a local TTL > 0 (WithLocal), got window %s", cfg.swr)
	case cfg.version < 0:
		return fmt.Errorf("cache: WithNamespace: version must be >= 0, got %d", cfg.version)
	}
	if err := typed(cfg.loader, "WithLoader", &c.loader); err != nil {
		return err
	}
	if err := typed(cfg.bulkLoader, "WithBulkLoader", &c.bulk); err != nil {
		return err
	}
	c.keyFunc, c.keyParser = defaultKeyFunc[K](), defaultKeyParser[K]()
	if cfg.keyFunc != nil {
		c.keyParser = nil // the default parser inverts only the default format
		if err := typed(cfg.keyFunc, "WithKeyFunc", &c.keyFunc); err != nil {
			return err
		}
	}
	if err := typed(cfg.keyParser, "WithKeyParser", &c.keyParser); err != nil {
		return err
	}
	if cfg.invalidator != nil && c.keyParser == nil {
		return fmt.Errorf("cache: WithInvalidation: keys of type %s need WithKeyParser to be invalidated, got none",
			reflect.TypeFor[K]())
	}
	if cfg.namespace != "" {
		c.prefix = cfg.namespace + ":"
	}
	if cfg.version > 0 {
		c.prefix += "v" + strconv.Itoa(cfg.version) + ":"
	}
	if cfg.localTier != nil {
		var l Local[K, Entry[V]]
		if err := typed(cfg.localTier, "WithLocalTier", &l); err != nil {
			return err
		}
		cl := &countingLocal[K, Entry[V]]{Local: l}
		c.local, c.peek = cl, l.Get
		return nil
	}
	if cfg.localCapacity < 1 {
		return fmt.Errorf("cache: WithLocal: capacity must be >= 1, got %d", cfg.localCapacity)
	}
	l, err := lru.New[K, Entry[V]](cfg.localCapacity, lru.WithClock(cfg.now))
	if err != nil {
		return fmt.Errorf("cache: WithLocal: %w", err)
	}
	c.local, c.lru, c.peek, c.lruStats = l, l, l.Peek, l.Stats
	return nil
}

// typed stores v, an option's value, into dst, failing with the option's name if v has the wrong type.
func typed[T any](v any, option string, dst *T) error {
	if v == nil {
		return nil
	}
	t, ok := v.(T)
	if !ok {
		return fmt.Errorf("cache: %s: must be %s for this cache, got %T", option, reflect.TypeFor[T](), v)
	}
	*dst = t
	return nil
}

// Get returns the value of key: from the local tier, else from the remote tier, else from the loader, filling
// the tiers it missed. Concurrent misses of one key share one remote read and one load; each caller still
// returns ctx.Err() as soon as its own ctx is done, while the load goes on for the others. A remote error or
// timeout is counted and the loader is asked instead. It returns [ErrNotFound] for a key that does not exist.
func (c *Cache[K, V]) Get(ctx context.Context, key K) (V, error) {
	if err := ctx.Err(); err != nil {
		var zero V
		return zero, err
	}
	var e Entry[V]
	var ok bool
	if c.lru != nil {
		e, ok = c.lru.Get(key)
	} else {
		e, ok = c.local.Get(key)
	}
	if ok && e.meta == 0 {
		return e.value, nil
	}
	return c.getSlow(ctx, key, e, ok)
}

// getSlow is Get past a plain local hit, kept out of Get so that the hit path stays small.
func (c *Cache[K, V]) getSlow(ctx context.Context, key K, e Entry[V], hit bool) (V, error) {
	if hit {
		return c.localHit(ctx, key, e)
	}
	if c.remote == nil && c.loader == nil { // nothing to ask
		var zero V
		return zero, ErrNotFound
	}
	cl, e, hit, err := c.join(ctx, key, false)
	if err != nil {
		var zero V
		return zero, err
	}
	if hit {
		return c.localHit(ctx, key, e)
	}
	select {
	case <-cl.done:
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
	if cl.err != nil {
		var zero V
		return zero, cl.err
	}
	if cl.entry.meta == notFound {
		return cl.entry.value, ErrNotFound
	}
	return cl.entry.value, nil
}

// localHit finishes a Get whose local entry is negative or may be stale.
func (c *Cache[K, V]) localHit(ctx context.Context, key K, e Entry[V]) (V, error) {
	if e.meta == notFound {
		c.st.negativeHits.Add(1)
		return e.value, ErrNotFound
	}
	if e.meta > 0 && c.clock.Now() > e.meta {
		c.st.staleServed.Add(1)
		c.join(ctx, key, true) // start one refresh unless one runs; ErrClosed only means no refresh
	}
	return e.value, nil
}

// Set stores v for key in both tiers (write-through) and tells other instances to drop their local copies. If
// the remote write fails, the local copy is dropped too, and the error is returned.
func (c *Cache[K, V]) Set(ctx context.Context, key K, v V) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.isClosed() {
		return ErrClosed
	}
	var rk string
	if c.remote != nil || c.sub != nil {
		rk = c.remoteKey(key)
	}
	if c.remote != nil {
		b, err := c.codec.Marshal(v)
		if err != nil {
			return fmt.Errorf("cache: Set: encode: %w", err)
		}
		c.detach(key)
		rctx, cancel := c.remoteCtx(ctx)
		err = c.remote.Set(rctx, rk, b, c.jittered(c.remoteTTL))
		cancel()
		if err != nil {
			c.st.remoteErrors.Add(1)
			c.drop(key)
			return fmt.Errorf("cache: Set: remote: %w", err)
		}
	}
	c.mu.Lock()
	c.forget(key)
	ttl, fresh := c.localTTLs()
	c.local.SetWithTTL(key, Entry[V]{value: v, meta: fresh}, ttl)
	c.mu.Unlock()
	return c.publish(ctx, "Set", rk)
}

// Delete removes key from both tiers and tells other instances to drop their local copies. Use it after
// writing the source of truth (delete-on-write): the next Get loads the new value.
func (c *Cache[K, V]) Delete(ctx context.Context, key K) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.isClosed() {
		return ErrClosed
	}
	var rk string
	if c.remote != nil || c.sub != nil {
		rk = c.remoteKey(key)
	}
	var err error
	if c.remote != nil {
		c.detach(key)
		rctx, cancel := c.remoteCtx(ctx)
		err = c.remote.Delete(rctx, rk)
		cancel()
		if err != nil {
			c.st.remoteErrors.Add(1)
			err = fmt.Errorf("cache: Delete: remote: %w", err)
		}
	}
	c.drop(key)
	if perr := c.publish(ctx, "Delete", rk); err == nil {
		err = perr
	}
	return err
}

// detach keeps a load running for key from writing the remote tier or filling the local one. Set and Delete
// call it before they write the remote tier: a load that read the source before the write would otherwise
// finish during that write and leave its older value in the remote tier, where the write has already been.
func (c *Cache[K, V]) detach(key K) {
	c.mu.Lock()
	c.forget(key)
	c.mu.Unlock()
}

// drop removes key from the local tier and keeps any load running for it from filling it again.
func (c *Cache[K, V]) drop(key K) {
	c.mu.Lock()
	c.forget(key)
	c.local.Delete(key)
	c.mu.Unlock()
}

func (c *Cache[K, V]) publish(ctx context.Context, op, rk string) error {
	if c.sub == nil {
		return nil
	}
	pctx, cancel := c.remoteCtx(ctx)
	err := c.sub.Publish(pctx, rk)
	cancel()
	if err != nil {
		c.st.invalidationErrors.Add(1)
		return fmt.Errorf("cache: %s: invalidate other instances: %w", op, err)
	}
	c.st.invalidationsSent.Add(1)
	return nil
}

// Close stops the subscription to invalidations, cancels the loads and refreshes that outlived their callers
// and waits for every goroutine of the cache to exit. Afterwards local hits are still served; calls that would
// need the remote tier or the loader, and every Set and Delete, return [ErrClosed]. Close is idempotent.
func (c *Cache[K, V]) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	var err error
	if c.sub != nil {
		err = c.sub.Close()
	}
	c.cancel()
	c.wg.Wait()
	return err
}

func (c *Cache[K, V]) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *Cache[K, V]) remoteKey(key K) string { return c.prefix + c.keyFunc(key) }

func (c *Cache[K, V]) remoteCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.remoteTimeout > 0 {
		return context.WithTimeout(ctx, c.remoteTimeout)
	}
	return ctx, func() {}
}

// jittered shortens ttl by a random fraction below the configured jitter; it never lengthens it.
func (c *Cache[K, V]) jittered(ttl time.Duration) time.Duration {
	if c.jitter == 0 || ttl <= 0 {
		return ttl
	}
	return ttl - time.Duration(float64(ttl)*c.jitter*rand.Float64())
}

// localTTLs returns the TTL to store a value with in the local tier and the clock reading at which it turns
// stale (0 without stale-while-revalidate).
func (c *Cache[K, V]) localTTLs() (ttl time.Duration, freshTil int64) {
	ttl = c.jittered(c.localTTL)
	if c.swr == 0 {
		return ttl, 0
	}
	return ttl + c.swr, c.clock.Now() + int64(ttl)
}

// handler receives invalidations from other instances.
type handler[K comparable, V any] struct{ c *Cache[K, V] }

func (h handler[K, V]) Invalidate(rk string) {
	c := h.c
	if len(rk) < len(c.prefix) || rk[:len(c.prefix)] != c.prefix {
		return // another cache's key on a shared channel
	}
	key, err := c.keyParser(rk[len(c.prefix):])
	if err != nil {
		return
	}
	c.st.invalidationsReceived.Add(1)
	c.drop(key)
}

func (h handler[K, V]) InvalidateAll() {
	c := h.c
	c.st.localFlushes.Add(1)
	c.mu.Lock()
	for k := range c.flights {
		c.forget(k)
	}
	c.local.Purge()
	c.mu.Unlock()
}

// countingLocal counts hits and misses of a plugged local tier, which has no counters the cache can read.
type countingLocal[K comparable, V any] struct {
	Local[K, V]
	hits, misses atomic.Uint64
}

func (l *countingLocal[K, V]) Get(key K) (V, bool) {
	v, ok := l.Local.Get(key)
	if ok {
		l.hits.Add(1)
	} else {
		l.misses.Add(1)
	}
	return v, ok
}
