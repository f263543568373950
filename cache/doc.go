// Package cache is a two-level cache: an in-process tier of typed values in front of a shared remote tier
// (Redis, through [github.com/sluice-go/sluice/cache/rediscache]) in front of the source of truth.
//
// [Cache.Get] reads the local tier, then the remote tier, then calls the loader of [WithLoader], filling each
// tier it missed (cache-aside, done by the cache). The local tier holds values, not bytes: a local hit decodes
// nothing and allocates nothing; the [Codec] runs only on remote reads and writes.
//
// # Writes
//
// [Cache.Set] writes both tiers (write-through): use it when the caller holds the new value, typically right
// after writing the source. [Cache.Delete] removes the key from both tiers (delete-on-write): the next Get
// loads it again. Delete is the safer default after a database write, because it cannot leave an older value in
// the cache when two writers race; Set saves the next reader a load. Both tell other instances to drop their
// local copies when [WithInvalidation] is set.
//
// # Failure modes it is built for
//
//   - Stampede: concurrent misses of one key in one process share one remote read and one load. The load runs on
//     a context with the first caller's values but not its cancellation, bounded by [WithLoadTimeout]; every
//     waiter can still give up on its own context. A failed load is not cached: the next Get tries again. A
//     loader that panics or calls [runtime.Goexit] fails its load with [ErrLoadAborted] for every waiter; the
//     panic is not re-raised, since the load runs on a goroutine of the cache rather than a caller's.
//   - Penetration: with [WithNegativeTTL], a loader's [ErrNotFound] is cached in both tiers, so a flood of
//     requests for keys that do not exist reaches the source once per key and TTL.
//   - Avalanche: [WithTTLJitter] shortens every TTL by a random fraction, so entries filled together do not
//     expire together.
//   - Slow refreshes: [WithStaleWhileRevalidate] keeps serving a value past its local TTL while one background
//     refresh runs.
//   - Remote outage: a remote error or timeout ([WithRemoteTimeout]) is counted in [Stats] and the read falls
//     through to the loader; a read the loader can serve never fails because of the remote tier.
//   - Stale local copies: with [WithInvalidation], Set and Delete broadcast the key and every other instance drops
//     it; when the broadcast is interrupted, each instance drops its whole local tier.
//
// A write racing a load of the same key in the same process wins: the load's result is still returned to its
// waiters but is not stored locally, and what it wrote to the remote tier is deleted again. Across processes,
// a load that read the source before another process's write can still store its older value in the remote
// tier after that write's Delete (the write's invalidation makes the loading instance delete it again if the
// message arrives before the load completes); the remote TTL bounds how long such a value can live.
package cache
