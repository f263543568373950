package lru

import (
	"fmt"
	"iter"
	"math"
	"math/bits"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/internal/clock"
)

// Cache is a sharded LRU cache with optional per-entry TTL. It is safe for concurrent use. The zero value is not
// usable; make one with [New].
type Cache[K comparable, V any] struct {
	shards  []shard[K, V]
	shift   uint8 // a key's shard is its hash >> shift
	hasher  hasher[K]
	clock   clock.Nanos
	ttl     time.Duration // default TTL of Set
	onEvict func(K, V, EvictReason)
	stats   *stripes // nil if WithStats(false)

	resizeMu sync.Mutex // serializes Resize
	capacity atomic.Int64
}

// Stats is a snapshot of counters since the cache was made, returned by [Cache.Stats].
type Stats struct {
	Hits        uint64 // Get calls that returned a value; 0 with WithStats(false)
	Misses      uint64 // Get calls that found nothing or an expired entry; 0 with WithStats(false)
	Evictions   uint64 // entries removed to make room (EvictCapacity)
	Expirations uint64 // entries found expired and removed (EvictExpired)
}

// HitRatio returns Hits / (Hits + Misses), or 0 before the first Get.
func (s Stats) HitRatio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

const (
	maxShards        = 64
	minShardCapacity = 64 // default sharding never leaves a shard smaller than this
)

// New returns a cache holding at most capacity entries, split evenly across its shards (the first
// capacity%shards shards hold one more; see [WithShards]). It fails if capacity < 1 or an option is invalid.
func New[K comparable, V any](capacity int, opts ...Option) (*Cache[K, V], error) {
	if capacity < 1 {
		return nil, fmt.Errorf("lru: New: capacity must be >= 1, got %d", capacity)
	}
	if capacity > math.MaxInt32-1 {
		return nil, fmt.Errorf("lru: New: capacity must be < 2^31-1, got %d", capacity)
	}
	var cfg config
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.ttl < 0 {
		return nil, fmt.Errorf("lru: WithTTL: ttl must be >= 0, got %s", cfg.ttl)
	}
	n := cfg.shards
	switch {
	case n == 0:
		n = defaultShards(capacity)
	case n < 1 || n&(n-1) != 0:
		return nil, fmt.Errorf("lru: WithShards: shards must be a power of two >= 1, got %d", n)
	case n > capacity:
		return nil, fmt.Errorf("lru: WithShards: shards must not exceed the capacity %d, got %d", capacity, n)
	}
	c := &Cache[K, V]{
		shards: make([]shard[K, V], n),
		shift:  uint8(64 - bits.TrailingZeros(uint(n))),
		hasher: newHasher[K](),
		clock:  clock.New(cfg.now),
		ttl:    cfg.ttl,
	}
	if !cfg.noStats {
		c.stats = newStripes()
	}
	if cfg.onEvict != nil {
		fn, ok := cfg.onEvict.(func(K, V, EvictReason))
		if !ok {
			return nil, fmt.Errorf("lru: WithOnEvict: hook must be %s, got %T",
				reflect.TypeFor[func(K, V, EvictReason)](), cfg.onEvict)
		}
		c.onEvict = fn
	}
	c.capacity.Store(int64(capacity))
	for i := range c.shards {
		c.shards[i].init(shareOf(capacity, n, i), n == 1 || cfg.exact)
	}
	return c, nil
}

func defaultShards(capacity int) int {
	n := 1 << bits.Len(uint(4*runtime.GOMAXPROCS(0)-1))
	n = min(n, maxShards)
	for n > 1 && capacity/n < minShardCapacity {
		n /= 2
	}
	return n
}

// shareOf returns the capacity of shard i of n.
func shareOf(capacity, n, i int) int {
	c := capacity / n
	if i < capacity%n {
		c++
	}
	return c
}

func (c *Cache[K, V]) hash(key K) uint64 { return c.hasher.hash(key) }

// shard returns the shard of a hash. The high bits pick the shard and the low ones the table slot.
func (c *Cache[K, V]) shard(h uint64) *shard[K, V] { return &c.shards[h>>c.shift] }

// Get returns the value stored for key and marks it used. An expired entry is never returned: it is removed,
// and reported to the [WithOnEvict] hook as [EvictExpired]. Get takes no lock except with a single shard
// (exact LRU) and to remove an expired entry.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	h := c.hash(key)
	s := c.shard(h)
	e := s.table.Load().lookup(key, h, &s.head)
	if e == nil {
		c.count(false)
		var zero V
		return zero, false
	}
	if e.expires != 0 && c.clock.Now() >= e.expires {
		s.mu.Lock()
		ev := s.expire(e)
		s.mu.Unlock()
		if ev.reason != 0 {
			c.report(ev)
		}
		c.count(false)
		var zero V
		return zero, false
	}
	if s.exact {
		s.mu.Lock()
		s.promote(e)
		s.mu.Unlock()
	} else if !e.used.Load() {
		e.used.Store(true)
	}
	c.count(true)
	return e.value, true
}

// Peek is [Cache.Get] without marking the entry used, counting a hit or miss, or removing an expired entry.
func (c *Cache[K, V]) Peek(key K) (V, bool) {
	h := c.hash(key)
	s := c.shard(h)
	e := s.table.Load().lookup(key, h, &s.head)
	if e == nil || e.expires != 0 && c.clock.Now() >= e.expires {
		var zero V
		return zero, false
	}
	return e.value, true
}

// Contains reports whether key has an unexpired entry, without marking it used.
func (c *Cache[K, V]) Contains(key K) bool {
	_, ok := c.Peek(key)
	return ok
}

// Set stores value for key with the TTL of [WithTTL] (none by default) and marks it most recently used. If the
// key's shard is full, its least recently used entry is evicted.
func (c *Cache[K, V]) Set(key K, value V) {
	c.SetWithTTL(key, value, c.ttl)
}

// SetWithTTL is [Cache.Set] with the entry's own TTL; ttl <= 0 means the entry never expires.
func (c *Cache[K, V]) SetWithTTL(key K, value V, ttl time.Duration) {
	e := &entry[K, V]{key: key, value: value, hash: c.hash(key)}
	now := lazyNow{clock: &c.clock}
	if ttl > 0 {
		now.t, now.read = c.clock.Now(), true
		e.expires = math.MaxInt64
		if int64(ttl) < math.MaxInt64-now.t {
			e.expires = max(now.t+int64(ttl), 1)
		}
	}
	s := c.shard(e.hash)
	s.mu.Lock()
	ev := s.set(e, &now)
	s.mu.Unlock()
	if ev.reason != 0 {
		c.report(ev)
	}
}

// Delete removes key and reports whether it was present and unexpired. The hook sees [EvictDeleted], or
// [EvictExpired] if the entry had expired.
func (c *Cache[K, V]) Delete(key K) bool {
	h := c.hash(key)
	s := c.shard(h)
	now := lazyNow{clock: &c.clock}
	s.mu.Lock()
	ev := s.delete(key, h, &now)
	s.mu.Unlock()
	if ev.reason != 0 {
		c.report(ev)
	}
	return ev.reason == EvictDeleted
}

// Len returns the number of entries, including expired ones not yet removed.
func (c *Cache[K, V]) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += s.len
		s.mu.Unlock()
	}
	return n
}

// Capacity returns the maximum number of entries.
func (c *Cache[K, V]) Capacity() int { return int(c.capacity.Load()) }

// Purge removes every entry, reporting each to the hook as [EvictPurged]. Stats are kept.
func (c *Cache[K, V]) Purge() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		evs := s.purge(c.onEvict != nil)
		s.mu.Unlock()
		c.reportAll(evs)
	}
}

// DeleteExpired removes every expired entry and returns how many it removed. The cache runs no goroutine of
// its own: expired entries are otherwise removed when touched or when they reach the end of their shard's LRU
// list, so a cache with many never-read TTL entries can call this periodically to free their memory sooner.
func (c *Cache[K, V]) DeleteExpired() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		now := lazyNow{clock: &c.clock}
		s.mu.Lock()
		evs, removed := s.deleteExpired(&now, c.onEvict != nil)
		n += removed
		s.mu.Unlock()
		c.reportAll(evs)
	}
	return n
}

// Resize changes the capacity, evicting least recently used entries of shards that are over their new share,
// and returns how many it evicted. It fails, changing nothing, if capacity is below 1 or below the number of
// shards.
func (c *Cache[K, V]) Resize(capacity int) (evicted int, err error) {
	if capacity < len(c.shards) || capacity > math.MaxInt32-1 {
		return 0, fmt.Errorf("lru: Resize: capacity must be between the shard count %d and 2^31-2, got %d",
			len(c.shards), capacity)
	}
	var evs []eviction[K, V]
	c.resizeMu.Lock()
	c.capacity.Store(int64(capacity))
	for i := range c.shards {
		s := &c.shards[i]
		now := lazyNow{clock: &c.clock}
		s.mu.Lock()
		shardEvs, removed := s.resize(shareOf(capacity, len(c.shards), i), &now, c.onEvict != nil)
		evicted += removed
		s.mu.Unlock()
		evs = append(evs, shardEvs...)
	}
	c.resizeMu.Unlock()
	c.reportAll(evs) // after resizeMu too, so that the hook may call Resize
	return evicted, nil
}

// Stats returns the counters summed over all shards.
func (c *Cache[K, V]) Stats() Stats {
	var st Stats
	if c.stats != nil {
		st.Hits, st.Misses = c.stats.sum()
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		st.Evictions += s.evictions
		st.Expirations += s.expirations
		s.mu.Unlock()
	}
	return st
}

// All returns an iterator over the unexpired entries, shard by shard, each shard in the order of its list:
// with one shard, from most to least recently used; with more, roughly so (a hit does not move an entry, the
// second chance at the end of the list does). Iterating does not mark entries used. Each shard is copied under
// its lock before its entries are yielded, so the loop body may use the cache; entries changed meanwhile may
// be seen in either state.
func (c *Cache[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		var buf []eviction[K, V]
		for i := range c.shards {
			s := &c.shards[i]
			now := lazyNow{clock: &c.clock}
			s.mu.Lock()
			buf = s.appendLive(buf[:0], &now)
			s.mu.Unlock()
			for _, e := range buf {
				if !yield(e.key, e.value) {
					return
				}
			}
		}
	}
}

// Keys returns an iterator over the keys of [Cache.All].
func (c *Cache[K, V]) Keys() iter.Seq[K] {
	return func(yield func(K) bool) {
		for k := range c.All() {
			if !yield(k) {
				return
			}
		}
	}
}

func (c *Cache[K, V]) count(hit bool) {
	if c.stats != nil {
		c.stats.add(hit)
	}
}

func (c *Cache[K, V]) report(ev eviction[K, V]) {
	if c.onEvict != nil {
		c.onEvict(ev.key, ev.value, ev.reason)
	}
}

func (c *Cache[K, V]) reportAll(evs []eviction[K, V]) {
	for _, ev := range evs {
		c.onEvict(ev.key, ev.value, ev.reason)
	}
}
