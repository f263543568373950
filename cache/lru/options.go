package lru

import (
	"strconv"
	"time"
)

// Option configures a [Cache] made by [New].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	ttl     time.Duration
	shards  int // 0: derived from GOMAXPROCS and the capacity
	now     func() time.Time
	onEvict any // func(K, V, EvictReason) for the cache's K and V; checked by New
	noStats bool
	exact   bool // every hit moves its entry to the front, whatever the number of shards; for tests
}

// WithTTL sets the time to live of entries stored with [Cache.Set]. Zero, the default, means entries never
// expire; a negative TTL is an error. [Cache.SetWithTTL] overrides it per entry. Repeating it keeps the last.
func WithTTL(ttl time.Duration) Option {
	return optionFunc(func(c *config) { c.ttl = ttl })
}

// WithShards sets the number of shards, a power of two no greater than the capacity. Each shard has its own
// lock for writes, its own recency list and an equal share of the capacity, so more shards mean less
// contention between writers and a coarser approximation of one global LRU. The default is the smallest power
// of two >= 4×GOMAXPROCS, at most 64, halved until every shard holds at least 64 entries. One shard makes
// the cache an exact LRU, whose every hit takes the lock. Repeating it keeps the last.
func WithShards(n int) Option {
	return optionFunc(func(c *config) { c.shards = n })
}

// WithClock sets the source of time used for TTLs; nil, the default, means [time.Now]. The clock is read at
// most once per operation, and not at all while no entry has a TTL. Repeating it keeps the last.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) { c.now = now })
}

// WithStats turns the counting of hits and misses of [Cache.Get] on (the default) or off. Each Get adds one
// to a counter that its goroutine rarely shares with goroutines on other CPUs; turning counting off saves that
// atomic add, and [Stats] then reports zero hits and misses. Repeating it keeps the last.
func WithStats(enabled bool) Option {
	return optionFunc(func(c *config) { c.noStats = !enabled })
}

// WithOnEvict sets a hook called for every entry that leaves the cache, with the reason it left. K and V are
// inferred from fn and must be the cache's own: [New] fails otherwise. The hook runs after the cache's lock is
// released, on the goroutine whose call removed the entry, so it may call the cache again; it must not block
// for long, since that goroutine's call waits for it. A nil fn removes the hook. Repeating it keeps the last.
func WithOnEvict[K comparable, V any](fn func(key K, value V, reason EvictReason)) Option {
	return optionFunc(func(c *config) {
		if fn == nil {
			c.onEvict = nil
			return
		}
		c.onEvict = fn
	})
}

// EvictReason says why an entry left the cache.
type EvictReason uint8

const (
	// EvictCapacity: the entry was the least recently used of its shard when room was needed.
	EvictCapacity EvictReason = iota + 1
	// EvictExpired: the entry's TTL had passed when the cache next touched it.
	EvictExpired
	// EvictDeleted: [Cache.Delete] removed it.
	EvictDeleted
	// EvictReplaced: a Set for the same key stored a new value; the hook receives the old one.
	EvictReplaced
	// EvictPurged: [Cache.Purge] removed it.
	EvictPurged
)

// String returns the reason's name, such as "capacity".
func (r EvictReason) String() string {
	switch r {
	case EvictCapacity:
		return "capacity"
	case EvictExpired:
		return "expired"
	case EvictDeleted:
		return "deleted"
	case EvictReplaced:
		return "replaced"
	case EvictPurged:
		return "purged"
	}
	return "EvictReason(" + strconv.Itoa(int(r)) + ")"
}
