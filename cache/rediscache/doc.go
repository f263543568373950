// Package rediscache puts the remote tier of a [cache.Cache] on Redis, through any
// [github.com/redis/go-redis/v9.UniversalClient] (a single node, Sentinel, or a cluster).
//
// [Store] is the [cache.Remote]: GET, one MGET per batch (a pipeline of GETs on a cluster, where keys span
// slots), SET with a TTL and DEL. [Invalidator] is the [cache.Invalidator]: each cache instance subscribes to
// one Redis channel, and every Set or Delete publishes the key there, tagged with the publishing instance's id,
// so that every other instance drops its local copy (the publisher ignores its own message: it has already
// updated its local tier).
//
// Pub/sub delivers at most once: a message published while a subscriber is disconnected is lost. So when the
// subscription's connection breaks, the subscriber drops its whole local tier at once, and again when the
// subscription is re-established (entries filled while it was down may have missed invalidations). A closed
// connection is noticed at once; a silent one by a PING, sent after a ping interval ([WithPingInterval]) without
// traffic and left unanswered for another, after which the subscriber starts over on a new connection (as it
// does when Redis leaves a subscription unconfirmed for a ping interval). So a local copy held when the
// connection broke outlives a lost invalidation by at most the time to notice, at once or within two ping
// intervals; one filled while the subscription was down lives until the subscription is back, or until its
// local TTL ends if that comes first.
//
// # Timeouts
//
// go-redis applies a context's deadline to its socket reads and writes only when the client's
// Options.ContextTimeoutEnabled is true. Set it on clients given to [New]: without it, [cache.WithRemoteTimeout]
// cannot cut short a call to a Redis that has stopped answering, whose connections stay open. Each read then
// waits for the client's ReadTimeout (5 s by default) before it falls back to the loader, and a caller whose
// deadline is shorter gets [context.DeadlineExceeded] for a key the loader would have served.
//
// [cache.Cache.Close] ends the subscription without waiting for a reconnection to time out: the dial in
// progress is cancelled. Two steps of go-redis do not observe cancellation and can still hold Close: the
// handshake on a connection that Redis, or a proxy in front of it, accepted but does not answer (the client's
// ReadTimeout bounds it), and a TLS dial (its DialTimeout bounds it).
package rediscache
