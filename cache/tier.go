package cache

import (
	"context"
	"encoding/json"
	"time"
)

// Entry is what the local tier stores for one key: a value, or the fact that the key does not exist (negative
// caching), with the cache's freshness bookkeeping. A [Local] engine stores and returns it as it is; its zero
// value is an entry holding the zero V.
type Entry[V any] struct {
	value V
	// meta is 0 for a value without stale-while-revalidate, the clock reading after which the value is stale
	// with it, or notFound. One word, so that the hit path tests one field.
	meta int64
}

// notFound is the meta of a negative entry.
const notFound = -1

// Local is the in-process tier. [github.com/sluice-go/sluice/cache/lru.Cache] satisfies Local[K, Entry[V]] and
// is the default; [WithLocalTier] plugs in another engine. Implementations must be safe for concurrent use and
// must never return an entry past the TTL it was stored with. The cache may call them while holding its own
// lock, so they must not call back into the cache.
type Local[K comparable, V any] interface {
	Get(key K) (V, bool)
	// SetWithTTL stores value; ttl <= 0 means no expiry.
	SetWithTTL(key K, value V, ttl time.Duration)
	Delete(key K) bool
	// Purge removes every entry.
	Purge()
}

// Remote is the shared tier (Redis in [github.com/sluice-go/sluice/cache/rediscache]). It stores bytes made by
// the [Codec] under string keys. Implementations must be safe for concurrent use and should honour ctx
// deadlines: the cache bounds every remote call with [WithRemoteTimeout].
type Remote interface {
	// Get returns the value of key; found is false, with a nil error, when the key is absent.
	Get(ctx context.Context, key string) (value []byte, found bool, err error)
	// MGet returns the values of keys in one round trip; values[i] is meaningful only where found[i].
	MGet(ctx context.Context, keys []string) (values [][]byte, found []bool, err error)
	// Set stores value under key; ttl <= 0 means no expiry.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key; deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
}

// Codec turns values into the bytes the remote tier stores, and back. The local tier stores values
// themselves, so the codec runs only on remote reads and writes.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default [Codec], [encoding/json].
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// Invalidator carries invalidations between cache instances that share a remote tier, so that a write on one
// instance drops the stale local copies of all the others. [github.com/sluice-go/sluice/cache/rediscache]
// implements it on Redis pub/sub; any broadcast transport can.
type Invalidator interface {
	// Subscribe starts delivering other subscribers' invalidations to h and returns once delivery is set up
	// (or has failed and is being retried in the background). Each cache instance subscribes once.
	Subscribe(ctx context.Context, h InvalidationHandler) (Subscription, error)
}

// Subscription is one instance's membership in an [Invalidator]'s broadcast.
type Subscription interface {
	// Publish tells every other subscriber to drop key (a remote key) from its local tier. A subscriber does
	// not receive its own messages: the instance that wrote has already updated its local tier.
	Publish(ctx context.Context, key string) error
	// Close stops delivery and waits for the goroutines of the subscription to exit.
	Close() error
}

// InvalidationHandler receives invalidations. Its methods are called from the subscription's goroutine.
type InvalidationHandler interface {
	// Invalidate drops the remote key from the local tier.
	Invalidate(key string)
	// InvalidateAll drops the whole local tier: delivery was interrupted and invalidations may have been lost.
	InvalidateAll()
}
