package lru

import (
	"sync"
	"sync/atomic"
)

// shard is an LRU over the keys that hash to it. Lookups read its table without the lock; everything that
// changes the table or the list holds mu.
type shard[K comparable, V any] struct {
	// table is swapped, never changed in place, when tombstones pile up or the capacity changes.
	table atomic.Pointer[table[K, V]]
	_     [56]byte // keep the read-mostly table pointer off the lines that writers dirty

	mu sync.Mutex
	// head is the sentinel of the circular LRU list: head.next is the most recently used entry and head.prev
	// the least. Its address also marks deleted slots of the table. Guarded by mu.
	head                   entry[K, V]
	len                    int  // guarded by mu; entries in the list
	used                   int  // guarded by mu; table slots holding an entry or a tombstone
	cap                    int  // guarded by mu
	exact                  bool // every hit moves its entry to the front; set before the shard is shared
	evictions, expirations uint64
	_                      [64]byte
}

// eviction is an entry removed under the lock, handed to the hook after the lock is released.
type eviction[K comparable, V any] struct {
	key    K
	value  V
	reason EvictReason
}

func (s *shard[K, V]) init(capacity int, exact bool) {
	s.head.prev, s.head.next = &s.head, &s.head
	s.exact = exact
	s.setCap(capacity)
}

// setCap sets the capacity and publishes a table sized for it holding the current entries.
func (s *shard[K, V]) setCap(capacity int) {
	s.cap = capacity
	s.rebuild()
}

// rebuild publishes a fresh table holding the listed entries and no tombstones.
func (s *shard[K, V]) rebuild() {
	t := newTable[K, V](s.cap)
	for e := s.head.next; e != &s.head; e = e.next {
		_, free := t.find(e.key, e.hash, &s.head)
		t.slots[free].Store(e)
	}
	s.used = s.len
	s.table.Store(t)
}

func (s *shard[K, V]) unlink(e *entry[K, V]) {
	e.prev.next = e.next
	e.next.prev = e.prev
}

func (s *shard[K, V]) pushFront(e *entry[K, V]) {
	e.prev, e.next = &s.head, s.head.next
	s.head.next.prev = e
	s.head.next = e
}

// promote moves e to the front unless it has left the shard meanwhile.
func (s *shard[K, V]) promote(e *entry[K, V]) {
	if e.prev != nil && s.head.next != e {
		s.unlink(e)
		s.pushFront(e)
	}
}

// remove takes e out of the list and the table.
func (s *shard[K, V]) remove(e *entry[K, V]) {
	t := s.table.Load()
	t.slots[t.slotOf(e)].Store(&s.head)
	s.unlink(e)
	e.prev, e.next = nil, nil
	s.len--
}

// set stores e, replacing the entry of its key or evicting the least recently used entry if the shard is full.
// The entry that left, if any, is returned.
func (s *shard[K, V]) set(e *entry[K, V], now *lazyNow) (ev eviction[K, V]) {
	t := s.table.Load()
	i, free := t.find(e.key, e.hash, &s.head)
	if i >= 0 {
		old := t.slots[i].Load()
		ev = eviction[K, V]{key: old.key, value: old.value, reason: EvictReplaced}
		if now.past(old.expires) {
			ev.reason = EvictExpired
			s.expirations++
		}
		s.unlink(old)
		old.prev, old.next = nil, nil
		t.slots[i].Store(e)
		s.pushFront(e)
		return ev
	}
	if s.len >= s.cap {
		ev = s.evictTail(now)
		// The eviction may have left a tombstone earlier on e's probe path.
		_, free = t.find(e.key, e.hash, &s.head)
	}
	if t.slots[free].Load() == nil {
		s.used++
	}
	t.slots[free].Store(e)
	s.len++
	s.pushFront(e)
	if s.used > len(t.slots)*3/4 {
		s.rebuild()
	}
	return ev
}

// evictTail removes the least recently used entry to make room. Unless the shard is exact, unexpired entries
// hit since they last reached the tail get a second chance: they move to the front instead (the CLOCK
// algorithm). After a full turn every flag is clear, so the loop ends.
func (s *shard[K, V]) evictTail(now *lazyNow) eviction[K, V] {
	tail := s.head.prev
	if !s.exact {
		for n := s.len; tail.used.Load() && !now.past(tail.expires) && n > 0; n-- {
			tail.used.Store(false)
			s.unlink(tail)
			s.pushFront(tail)
			tail = s.head.prev
		}
	}
	ev := eviction[K, V]{key: tail.key, value: tail.value, reason: EvictCapacity}
	if now.past(tail.expires) {
		ev.reason = EvictExpired
		s.expirations++
	} else {
		s.evictions++
	}
	s.remove(tail)
	return ev
}

// delete removes key; ev.reason is 0 if it was absent, EvictExpired if it had expired.
func (s *shard[K, V]) delete(key K, h uint64, now *lazyNow) (ev eviction[K, V]) {
	t := s.table.Load()
	i, _ := t.find(key, h, &s.head)
	if i < 0 {
		return ev
	}
	e := t.slots[i].Load()
	ev = eviction[K, V]{key: e.key, value: e.value, reason: EvictDeleted}
	if now.past(e.expires) {
		ev.reason = EvictExpired
		s.expirations++
	}
	s.remove(e)
	return ev
}

// expire removes e, found expired by a reader, unless it has left the shard meanwhile.
func (s *shard[K, V]) expire(e *entry[K, V]) (ev eviction[K, V]) {
	if e.prev == nil {
		return ev
	}
	s.expirations++
	s.remove(e)
	return eviction[K, V]{key: e.key, value: e.value, reason: EvictExpired}
}

// purge empties the shard, returning its entries if collect is set.
func (s *shard[K, V]) purge(collect bool) []eviction[K, V] {
	var evs []eviction[K, V]
	if collect && s.len > 0 {
		evs = make([]eviction[K, V], 0, s.len)
	}
	for e := s.head.next; e != &s.head; {
		next := e.next
		if collect {
			evs = append(evs, eviction[K, V]{key: e.key, value: e.value, reason: EvictPurged})
		}
		e.prev, e.next = nil, nil
		e = next
	}
	s.head.prev, s.head.next = &s.head, &s.head
	s.len = 0
	s.rebuild()
	return evs
}

// deleteExpired removes the entries expired at now, returning how many and, if collect is set, which.
func (s *shard[K, V]) deleteExpired(now *lazyNow, collect bool) ([]eviction[K, V], int) {
	var evs []eviction[K, V]
	removed := 0
	for e := s.head.next; e != &s.head; {
		next := e.next
		if now.past(e.expires) {
			s.remove(e)
			s.expirations++
			removed++
			if collect {
				evs = append(evs, eviction[K, V]{key: e.key, value: e.value, reason: EvictExpired})
			}
		}
		e = next
	}
	return evs, removed
}

// resize sets the shard's capacity, evicting from the tail down to it.
func (s *shard[K, V]) resize(capacity int, now *lazyNow, collect bool) ([]eviction[K, V], int) {
	var evs []eviction[K, V]
	removed := 0
	for s.len > capacity {
		ev := s.evictTail(now)
		removed++
		if collect {
			evs = append(evs, ev)
		}
	}
	s.setCap(capacity)
	return evs, removed
}

// appendLive appends the unexpired entries from most to least recently used.
func (s *shard[K, V]) appendLive(buf []eviction[K, V], now *lazyNow) []eviction[K, V] {
	for e := s.head.next; e != &s.head; e = e.next {
		if !now.past(e.expires) {
			buf = append(buf, eviction[K, V]{key: e.key, value: e.value})
		}
	}
	return buf
}
