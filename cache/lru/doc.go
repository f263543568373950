// Package lru is a sharded, concurrent LRU cache with optional per-entry TTL.
//
// A [Cache] holds typed values: a hit returns the stored value itself and allocates nothing. Keys are spread
// over a power-of-two number of shards by a seeded hash; each shard has its own share of the capacity, its
// own lock for writes and its own recency list, and it evicts the least recently used of its own entries.
// With keys spread evenly that approximates one global LRU closely.
//
// Get takes no lock. It finds the entry in a hash table that writers publish atomically, and with more than
// one shard it records a hit by setting a flag on the entry, once: hits on hot entries write no shared memory,
// so reads scale with the number of CPUs. The flag gives an entry that reaches the end of the list a second
// chance instead of being evicted (the CLOCK approximation of LRU), which on skewed workloads evicts slightly
// better than exact LRU; bench/cache_test.go prints the hit ratios of this cache, of golang-lru's exact LRU
// and of otter. With a single shard — WithShards(1), or the default for capacities below 128 — every hit
// moves its entry to the front under the lock, and the cache is an exact LRU.
//
// Expired entries are never returned. The cache runs no goroutine: an expired entry is removed when a call
// touches it, when it reaches the end of its shard's list, or by [Cache.DeleteExpired]. The clock is read only
// for entries that have a TTL.
//
// Every entry that leaves the cache can be reported to a hook set with [WithOnEvict], with an [EvictReason]:
// capacity and expiry are evictions proper (counted in [Stats]); deletes, replacements by Set and purges are
// reported with their own reasons so that a hook releasing resources sees every value that leaves.
//
// Because each shard has a fixed share of the capacity and keys do not hash perfectly evenly, a cache of
// capacity N may evict before it holds N distinct keys; give it some headroom when a working set must fit.
package lru
