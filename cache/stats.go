package cache

import "sync/atomic"

// Stats are counters since the cache was made, per tier.
type Stats struct {
	LocalHits   uint64 // Gets answered by the local tier, including negative and stale entries
	LocalMisses uint64 // Gets the local tier could not answer

	RemoteHits   uint64 // remote reads that found a value or a negative entry
	RemoteMisses uint64 // remote reads that found nothing (or bytes the codec could not decode)
	RemoteErrors uint64 // remote calls that failed or timed out; reads then fell through to the loader

	Loads      uint64 // keys read from the loader (a bulk load counts each key)
	LoadErrors uint64 // loads that failed with an error other than ErrNotFound; such errors are not cached

	NegativeHits uint64 // reads answered "not found" by a negative entry, in either tier
	StaleServed  uint64 // Gets answered with a stale value under stale-while-revalidate
	Refreshes    uint64 // background refreshes started by stale reads

	EncodeErrors uint64 // values the codec could not encode, so not written to the remote tier
	DecodeErrors uint64 // remote values the codec could not decode

	InvalidationsSent     uint64 // keys published to other instances by Set and Delete
	InvalidationsReceived uint64 // keys other instances invalidated here
	InvalidationErrors    uint64 // publishes that failed
	LocalFlushes          uint64 // times the local tier was dropped because invalidations may have been lost
}

type counters struct {
	remoteHits, remoteMisses, remoteErrors                                     atomic.Uint64
	loads, loadErrors                                                          atomic.Uint64
	negativeHits, staleServed, refreshes                                       atomic.Uint64
	encodeErrors, decodeErrors                                                 atomic.Uint64
	invalidationsSent, invalidationsReceived, invalidationErrors, localFlushes atomic.Uint64
}

// Stats returns the cache's counters. Each is read atomically; together they are not one snapshot.
func (c *Cache[K, V]) Stats() Stats {
	s := Stats{
		RemoteHits:            c.st.remoteHits.Load(),
		RemoteMisses:          c.st.remoteMisses.Load(),
		RemoteErrors:          c.st.remoteErrors.Load(),
		Loads:                 c.st.loads.Load(),
		LoadErrors:            c.st.loadErrors.Load(),
		NegativeHits:          c.st.negativeHits.Load(),
		StaleServed:           c.st.staleServed.Load(),
		Refreshes:             c.st.refreshes.Load(),
		EncodeErrors:          c.st.encodeErrors.Load(),
		DecodeErrors:          c.st.decodeErrors.Load(),
		InvalidationsSent:     c.st.invalidationsSent.Load(),
		InvalidationsReceived: c.st.invalidationsReceived.Load(),
		InvalidationErrors:    c.st.invalidationErrors.Load(),
		LocalFlushes:          c.st.localFlushes.Load(),
	}
	if c.lruStats != nil {
		ls := c.lruStats()
		s.LocalHits, s.LocalMisses = ls.Hits, ls.Misses
	} else if cl, ok := c.local.(*countingLocal[K, Entry[V]]); ok {
		s.LocalHits, s.LocalMisses = cl.hits.Load(), cl.misses.Load()
	}
	return s
}
