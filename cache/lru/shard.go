package lru

import (
	"sync"

	"github.com/sluice-go/sluice/internal/clock"
)

// node is one entry. Nodes live in a slice and link to each other by index, so the list holds no pointers
// for the garbage collector to trace and a shard's entries sit next to each other in memory.
type node[K comparable, V any] struct {
	key     K
	value   V
	expires int64  // clock nanoseconds after which the entry is gone; 0 means never
	stamp   uint64 // the shard's tick when the entry last moved to the front
	prev    int32
	next    int32
}

// eviction is an entry removed under the lock, handed to the hook after the lock is released.
type eviction[K comparable, V any] struct {
	key    K
	value  V
	reason EvictReason
}

// shard is an exact LRU over the keys that hash to it.
type shard[K comparable, V any] struct {
	mu sync.Mutex
	// index maps a key to its node. Guarded by mu.
	index map[K]int32
	// nodes[0] is the sentinel of a circular list: nodes[0].next is the most recently used entry and
	// nodes[0].prev the least. Free slots are chained through next from free. Guarded by mu.
	nodes []node[K, V]
	free  int32 // guarded by mu; 0 means no free slot
	cap   int32 // guarded by mu
	// tick counts moves to the front. An entry moved fewer than window ticks ago is at most window places from
	// the front, and a hit on it leaves it there: hot entries are then read without writing to the list.
	tick   uint64 // guarded by mu
	window uint64 // guarded by mu; 0 makes the shard an exact LRU

	hits, misses, evictions, expirations uint64 // guarded by mu

	_ [48]byte // keeps two shards' locks off one cache-line pair
}

func (s *shard[K, V]) init(capacity int, exact bool) {
	s.setCap(capacity, exact)
	s.index = make(map[K]int32)
	s.nodes = make([]node[K, V], 1, 1+min(capacity, 1024))
	s.free = 0
}

func (s *shard[K, V]) setCap(capacity int, exact bool) {
	s.cap = int32(capacity)
	s.window = 0
	if !exact {
		s.window = uint64(capacity / windowDivisor)
	}
}

func (s *shard[K, V]) unlink(i int32) {
	n := &s.nodes[i]
	s.nodes[n.prev].next = n.next
	s.nodes[n.next].prev = n.prev
}

func (s *shard[K, V]) pushFront(i int32) {
	head := s.nodes[0].next
	n := &s.nodes[i]
	n.prev, n.next = 0, head
	s.tick++
	n.stamp = s.tick
	s.nodes[head].prev = i
	s.nodes[0].next = i
}

func (s *shard[K, V]) moveToFront(i int32) {
	if s.nodes[0].next == i {
		return
	}
	s.unlink(i)
	s.pushFront(i)
}

// remove takes node i out of the list and the index and returns its slot to the free list.
func (s *shard[K, V]) remove(i int32) (K, V) {
	s.unlink(i)
	n := &s.nodes[i]
	k, v := n.key, n.value
	delete(s.index, k)
	*n = node[K, V]{next: s.free} // drop references so the collector can free them
	s.free = i
	return k, v
}

// get returns the value of key unless it is absent or expired at now; an expired entry is removed and returned
// in ev. now is negative while the cache has no TTLs; clk is read if an entry with a TTL shows up regardless.
func (s *shard[K, V]) get(key K, now int64, clk *clock.Nanos) (v V, ok bool, ev eviction[K, V]) {
	i, found := s.index[key]
	if !found {
		s.misses++
		return v, false, ev
	}
	n := &s.nodes[i]
	if n.expires != 0 {
		if now < 0 {
			now = clk.Now()
		}
		if now >= n.expires {
			s.misses++
			s.expirations++
			ev.key, ev.value = s.remove(i)
			ev.reason = EvictExpired
			return v, false, ev
		}
	}
	s.hits++
	if s.tick-n.stamp >= s.window {
		s.moveToFront(i)
	}
	return n.value, true, ev
}

// set stores key, evicting the least recently used entry if the shard is full. The displaced entry, if any, is
// returned in ev: the old value of key (replaced or expired) or the evicted one (capacity or expired).
func (s *shard[K, V]) set(key K, value V, expires, now int64) (ev eviction[K, V]) {
	if i, found := s.index[key]; found {
		n := &s.nodes[i]
		ev.key, ev.value, ev.reason = n.key, n.value, EvictReplaced
		if n.expires != 0 && now >= n.expires {
			ev.reason = EvictExpired
			s.expirations++
		}
		n.value, n.expires = value, expires
		s.moveToFront(i)
		return ev
	}
	if len(s.index) >= int(s.cap) {
		ev = s.evictTail(now)
	}
	var i int32
	if s.free != 0 {
		i = s.free
		s.free = s.nodes[i].next
	} else {
		i = int32(len(s.nodes))
		s.nodes = append(s.nodes, node[K, V]{})
	}
	s.nodes[i] = node[K, V]{key: key, value: value, expires: expires}
	s.index[key] = i
	s.pushFront(i)
	return ev
}

// evictTail removes the least recently used entry to make room.
func (s *shard[K, V]) evictTail(now int64) (ev eviction[K, V]) {
	tail := s.nodes[0].prev
	ev.reason = EvictCapacity
	if e := s.nodes[tail].expires; e != 0 && now >= e {
		ev.reason = EvictExpired
		s.expirations++
	} else {
		s.evictions++
	}
	ev.key, ev.value = s.remove(tail)
	return ev
}

// len returns the number of entries, expired or not.
func (s *shard[K, V]) len() int { return len(s.index) }

func (s *shard[K, V]) peek(key K, now int64, clk *clock.Nanos) (v V, ok bool) {
	i, found := s.index[key]
	if !found {
		return v, false
	}
	n := &s.nodes[i]
	if n.expires != 0 {
		if now < 0 {
			now = clk.Now()
		}
		if now >= n.expires {
			return v, false
		}
	}
	return n.value, true
}

// delete removes key; ev.reason is 0 if it was absent, EvictExpired if it had expired.
func (s *shard[K, V]) delete(key K, now int64) (ev eviction[K, V]) {
	i, found := s.index[key]
	if !found {
		return ev
	}
	ev.reason = EvictDeleted
	if e := s.nodes[i].expires; e != 0 && now >= e {
		ev.reason = EvictExpired
		s.expirations++
	}
	ev.key, ev.value = s.remove(i)
	return ev
}

// purge empties the shard, returning its entries if collect is set.
func (s *shard[K, V]) purge(collect bool) []eviction[K, V] {
	var evs []eviction[K, V]
	if collect && len(s.index) > 0 {
		evs = make([]eviction[K, V], 0, len(s.index))
		for i := s.nodes[0].next; i != 0; i = s.nodes[i].next {
			evs = append(evs, eviction[K, V]{key: s.nodes[i].key, value: s.nodes[i].value, reason: EvictPurged})
		}
	}
	clear(s.index)
	clear(s.nodes)
	s.nodes = s.nodes[:1]
	s.free = 0
	return evs
}

// deleteExpired removes the entries expired at now, returning how many and, if collect is set, which.
func (s *shard[K, V]) deleteExpired(now int64, collect bool) ([]eviction[K, V], int) {
	var evs []eviction[K, V]
	removed := 0
	for i := s.nodes[0].next; i != 0; {
		next := s.nodes[i].next
		if e := s.nodes[i].expires; e != 0 && now >= e {
			k, v := s.remove(i)
			s.expirations++
			removed++
			if collect {
				evs = append(evs, eviction[K, V]{key: k, value: v, reason: EvictExpired})
			}
		}
		i = next
	}
	return evs, removed
}

// resize sets the shard's capacity, evicting from the tail down to it.
func (s *shard[K, V]) resize(capacity int, exact bool, now int64, collect bool) ([]eviction[K, V], int) {
	s.setCap(capacity, exact)
	var evs []eviction[K, V]
	removed := 0
	for len(s.index) > capacity {
		ev := s.evictTail(now)
		removed++
		if collect {
			evs = append(evs, ev)
		}
	}
	return evs, removed
}

// appendLive appends the unexpired entries from most to least recently used.
func (s *shard[K, V]) appendLive(buf []eviction[K, V], now int64) []eviction[K, V] {
	for i := s.nodes[0].next; i != 0; i = s.nodes[i].next {
		n := &s.nodes[i]
		if n.expires != 0 && now >= 0 && now >= n.expires {
			continue
		}
		buf = append(buf, eviction[K, V]{key: n.key, value: n.value})
	}
	return buf
}
