// Package lru is a sharded, concurrent LRU cache with optional per-entry TTL.
//
// A [Cache] holds typed values: a hit returns the stored value itself, allocates nothing and reads the clock
// only when entries carry TTLs. Keys are spread over a power-of-two number of shards by a seeded hash; each
// shard has its own lock, its own slice of entries linked by int32 indices (no pointers for the garbage
// collector to trace) and its own share of the capacity. The cache is therefore an LRU per shard: it evicts
// the least recently used entry of the shard that needs room, which, with keys spread evenly, approximates
// a global LRU closely (the package's tests measure its hit ratio against an exact LRU).
// [WithShards](1) makes it an exact LRU.
//
// Expired entries are never returned. The cache runs no goroutine: an expired entry is removed when a call
// touches it, when it reaches the end of its shard's list, or by [Cache.DeleteExpired].
//
// Every entry that leaves the cache can be reported to a hook set with [WithOnEvict], with an [EvictReason]:
// capacity and expiry are evictions proper (counted in [Stats]); deletes, replacements by Set and purges are
// reported with their own reasons so that a hook releasing resources sees every value that leaves.
package lru
