package cache

import (
	"context"
	"time"
)

// Option configures a [Cache] made by [New].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Defaults of [New].
const (
	DefaultLocalCapacity = 10_000
	DefaultLocalTTL      = time.Minute
	DefaultRemoteTTL     = time.Hour
	DefaultRemoteTimeout = 200 * time.Millisecond
	DefaultLoadTimeout   = 10 * time.Second
)

type config struct {
	localCapacity int
	localTTL      time.Duration
	localTier     any // Local[K, Entry[V]]; checked by New
	remote        Remote
	remoteTTL     time.Duration
	remoteTimeout time.Duration
	loader        any // func(context.Context, K) (V, error); checked by New
	bulkLoader    any // func(context.Context, []K) (map[K]V, error); checked by New
	loadTimeout   time.Duration
	codec         Codec
	keyFunc       any // func(K) string
	keyParser     any // func(string) (K, error)
	namespace     string
	version       int
	negativeTTL   time.Duration
	jitter        float64
	swr           time.Duration
	invalidator   Invalidator
	now           func() time.Time
}

func defaultConfig() config {
	return config{
		localCapacity: DefaultLocalCapacity,
		localTTL:      DefaultLocalTTL,
		remoteTTL:     DefaultRemoteTTL,
		remoteTimeout: DefaultRemoteTimeout,
		loadTimeout:   DefaultLoadTimeout,
		codec:         JSON,
	}
}

// WithLocal sets the capacity (entries, >= 1) and the TTL of the local tier; ttl 0 means local entries live
// until evicted or invalidated. Defaults: [DefaultLocalCapacity], [DefaultLocalTTL]. Without an [Invalidator],
// the local TTL bounds how long an instance can serve a value another instance has replaced. Repeating it keeps
// the last.
func WithLocal(capacity int, ttl time.Duration) Option {
	return optionFunc(func(c *config) { c.localCapacity, c.localTTL = capacity, ttl })
}

// WithLocalTier replaces the default local tier ([github.com/sluice-go/sluice/cache/lru]) with another engine.
// The capacity of [WithLocal] is then ignored; its TTL still applies. K and V are inferred from l and must match
// the cache's: [New] fails otherwise. Repeating it keeps the last; nil restores the default.
func WithLocalTier[K comparable, V any](l Local[K, Entry[V]]) Option {
	return optionFunc(func(c *config) {
		if l == nil {
			c.localTier = nil
			return
		}
		c.localTier = l
	})
}

// WithRemote sets the shared tier, consulted on a local miss before the loader and written after each load.
// Without it the cache is one local tier in front of the loader. Repeating it keeps the last.
func WithRemote(r Remote) Option {
	return optionFunc(func(c *config) { c.remote = r })
}

// WithRemoteTTL sets the TTL of values written to the remote tier (default [DefaultRemoteTTL]; 0 means no
// expiry). Repeating it keeps the last.
func WithRemoteTTL(ttl time.Duration) Option {
	return optionFunc(func(c *config) { c.remoteTTL = ttl })
}

// WithRemoteTimeout bounds every remote call (default [DefaultRemoteTimeout]). A read that times out counts as
// a remote error and falls through to the loader, so a slow remote cannot stall reads, provided the [Remote]
// ends its calls at their context's deadline (for [github.com/sluice-go/sluice/cache/rediscache], the go-redis
// client needs ContextTimeoutEnabled). 0 means no bound of its own: the remote calls of a load are then bounded
// by the load timeout ([WithLoadTimeout]), so a hung remote can use up the whole load and fail the read, and
// those of Set and Delete by the caller's context. Repeating it keeps the last.
func WithRemoteTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.remoteTimeout = d })
}

// WithLoader sets the function that reads the source of truth on a miss in both tiers. It returns
// [ErrNotFound] (or wraps it) for a key that does not exist. Concurrent misses of one key share one call,
// which runs on a context that keeps the first caller's values but not its cancellation, bounded by
// [WithLoadTimeout]. If fn panics or calls [runtime.Goexit], the load fails with [ErrLoadAborted] (carrying the
// panic value and stack) for every caller waiting for it, and the next read of the key calls fn again. K and V
// are inferred from fn and must match the cache's. Repeating it keeps the last.
func WithLoader[K comparable, V any](fn func(ctx context.Context, key K) (V, error)) Option {
	return optionFunc(func(c *config) {
		if fn == nil {
			c.loader = nil
			return
		}
		c.loader = fn
	})
}

// WithBulkLoader sets the function [Cache.GetMany] uses to load the keys both tiers miss, in one call. Keys
// missing from the returned map do not exist (as if the loader returned [ErrNotFound] for them). If fn panics
// or calls [runtime.Goexit], every key of the call fails with [ErrLoadAborted]. Without it, GetMany loads each
// key with the loader of [WithLoader], up to 16 at once. Repeating it keeps the last.
func WithBulkLoader[K comparable, V any](fn func(ctx context.Context, keys []K) (map[K]V, error)) Option {
	return optionFunc(func(c *config) {
		if fn == nil {
			c.bulkLoader = nil
			return
		}
		c.bulkLoader = fn
	})
}

// WithLoadTimeout bounds each load (default [DefaultLoadTimeout]; 0 means unbounded). A load outlives the
// callers that gave up on it, so this is what stops a hung source from holding a key's flight forever.
// Repeating it keeps the last.
func WithLoadTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.loadTimeout = d })
}

// WithCodec sets how values are encoded for the remote tier (default [JSON]). Repeating it keeps the last.
func WithCodec(codec Codec) Option {
	return optionFunc(func(c *config) { c.codec = codec })
}

// WithKeyFunc sets how a key becomes the string that names it in the remote tier, after the prefix of
// [WithNamespace]. The default formats strings as they are, integers in decimal and anything else with
// [fmt.Sprint]. With [WithInvalidation], keys other than strings and integers also need [WithKeyParser].
// Repeating it keeps the last.
func WithKeyFunc[K comparable](fn func(key K) string) Option {
	return optionFunc(func(c *config) {
		if fn == nil {
			c.keyFunc = nil
			return
		}
		c.keyFunc = fn
	})
}

// WithKeyParser sets the inverse of [WithKeyFunc], which turns an invalidated remote key back into the local
// key to drop. Only [WithInvalidation] needs it, and only for keys other than strings and integers or with a
// custom [WithKeyFunc]. Repeating it keeps the last.
func WithKeyParser[K comparable](fn func(s string) (K, error)) Option {
	return optionFunc(func(c *config) {
		if fn == nil {
			c.keyParser = nil
			return
		}
		c.keyParser = fn
	})
}

// WithNamespace prefixes remote keys with namespace and a version, as "namespace:v<version>:key" (the version
// part only when version > 0), so that caches sharing one Redis do not collide, and bumping the version after a
// change of the value's encoding abandons every old entry at once. Repeating it keeps the last.
func WithNamespace(namespace string, version int) Option {
	return optionFunc(func(c *config) { c.namespace, c.version = namespace, version })
}

// WithNegativeTTL caches "not found" answers of the loader for ttl in both tiers, so that a flood of requests
// for keys that do not exist cannot all reach the source (cache penetration). 0, the default, turns it off.
// Repeating it keeps the last.
func WithNegativeTTL(ttl time.Duration) Option {
	return optionFunc(func(c *config) { c.negativeTTL = ttl })
}

// WithTTLJitter shortens every TTL the cache sets, in both tiers, by a random fraction in [0, fraction), so that
// entries written together do not expire together and send a wave of loads to the source (cache avalanche).
// A TTL is never lengthened. fraction is in [0, 1); 0, the default, turns it off. Repeating it keeps the last.
func WithTTLJitter(fraction float64) Option {
	return optionFunc(func(c *config) { c.jitter = fraction })
}

// WithStaleWhileRevalidate keeps local entries for window past their TTL: a Get that finds such a stale entry
// returns it at once and starts one background refresh (remote, then loader) of the key, shared with any
// refresh or load already running for it. The refresh is owned by the cache: [Cache.Close] waits for it. It
// needs a local TTL > 0. 0, the default, turns it off. Repeating it keeps the last.
func WithStaleWhileRevalidate(window time.Duration) Option {
	return optionFunc(func(c *config) { c.swr = window })
}

// WithInvalidation subscribes the cache to inv: [Cache.Set] and [Cache.Delete] publish the key, and
// invalidations from other instances drop it from this instance's local tier. When delivery is interrupted,
// the whole local tier is dropped, since invalidations may have been missed. [New] returns once the
// subscription is confirmed or its first attempt has failed (it then retries in the background), and
// [Cache.Close] ends it. Repeating it keeps the last.
func WithInvalidation(inv Invalidator) Option {
	return optionFunc(func(c *config) { c.invalidator = inv })
}

// WithClock sets the source of time for TTLs and staleness; nil, the default, means [time.Now]. Repeating it
// keeps the last.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) { c.now = now })
}
