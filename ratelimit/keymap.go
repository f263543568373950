package ratelimit

import (
	"hash/maphash"
	"math"
	"runtime"
	"sync"
)

// keyMap is the storage of the per-key limiters: shards of map[hash]V behind their own mutex, a hard cap, and
// lazy forgetting of entries that are idle, that is, indistinguishable from a key never seen.
//
// Keys are stored by their 64-bit seeded hash, so a key is hashed once and never retained; two keys whose hashes
// collide share one state, which can only deny more. The seed is random per limiter, so collisions cannot be
// aimed; among a million live keys the chance of any is about 3·10⁻⁸.
type keyMap[V any] struct {
	seed     maphash.Seed
	mask     uint64
	perShard int
	idleAt   func(V) int64 // from this moment on (in the owner's time units) the entry is as good as absent
	shards   []keyShard[V]
}

type keyShard[V any] struct {
	mu sync.Mutex
	m  map[uint64]V // guarded by mu
	// waits holds the sleeping WaitN calls of the keys that have any, in FIFO order; a key without waiters has
	// no entry, so waiting costs nothing per key until someone waits. Guarded by mu; nil until first used.
	waits     map[uint64]*waitList
	p         *gcraParams // guarded by mu; [Keyed] only: the parameters this shard's entries are kept under
	sweepAt   int         // guarded by mu; size at which idle entries are swept next
	earliest  int64       // guarded by mu; no entry in m is idle before this
	evictions uint64      // guarded by mu
	_         [64]byte    // keeps neighbouring shards' locks off one cache line
}

func newKeyMap[V any](c *config, idleAt func(V) int64) keyMap[V] {
	shards := c.shards
	if shards == 0 {
		shards = 1
		for shards < 4*runtime.GOMAXPROCS(0) {
			shards *= 2
		}
	}
	for shards > c.maxKeys { // at least one key per shard, so the total never exceeds the cap
		shards /= 2
	}
	m := keyMap[V]{seed: maphash.MakeSeed(), mask: uint64(shards - 1), perShard: c.maxKeys / shards,
		idleAt: idleAt, shards: make([]keyShard[V], shards)}
	for i := range m.shards {
		m.shards[i].m = make(map[uint64]V)
		m.shards[i].sweepAt = min(64, m.perShard)
		m.shards[i].earliest = math.MaxInt64
	}
	return m
}

// locate returns key's shard and hash; shards take the high bits, the maps hash the whole word again.
func locate[K comparable, V any](m *keyMap[V], key K) (*keyShard[V], uint64) {
	h := maphash.Comparable(m.seed, key)
	return &m.shards[(h>>32)&m.mask], h
}

// room makes room for a new key in s, forgetting idle entries if needed. It reports false when s is full of
// busy entries; the owner then denies the new key instead of dropping a busy one, which would reset its limit.
// Called with s.mu held.
func (m *keyMap[V]) room(s *keyShard[V], now int64) bool {
	if len(s.m) >= s.sweepAt || len(s.m) >= m.perShard {
		m.sweep(s, now)
	}
	return len(s.m) < m.perShard
}

// sweep forgets idle entries, which changes no decision. It runs when a shard reaches its cap or doubles since
// the last sweep, so its cost is amortized over the insertions in between; when nothing can be idle yet
// (now < earliest) it costs nothing. Called with s.mu held.
func (m *keyMap[V]) sweep(s *keyShard[V], now int64) {
	if now >= s.earliest {
		earliest := int64(math.MaxInt64)
		for h, v := range s.m {
			if at := m.idleAt(v); at <= now && !s.waiting(h) {
				delete(s.m, h)
				s.evictions++
			} else {
				earliest = min(earliest, at)
			}
		}
		s.earliest = earliest
	}
	s.resweep(m)
}

// resweep sets the size of the next sweep after one. Called with s.mu held.
func (s *keyShard[V]) resweep(m *keyMap[V]) { s.sweepAt = min(max(64, 2*len(s.m)), m.perShard) }

// waiting reports whether key h has waiters; such a key is never forgotten, so that the waiters find its state
// (and its place under the cap) when their turn comes. Called with s.mu held.
func (s *keyShard[V]) waiting(h uint64) bool { return s.waitsOf(h) != nil }

// waitsOf returns key h's waiters, or nil if it has none. Called with s.mu held.
func (s *keyShard[V]) waitsOf(h uint64) *waitList {
	if len(s.waits) == 0 {
		return nil
	}
	return s.waits[h]
}

// enqueue appends w to key h's waiters. Called with s.mu held.
func (s *keyShard[V]) enqueue(h uint64, w *waiter) *waitList {
	l := s.waits[h]
	if l == nil {
		if s.waits == nil {
			s.waits = make(map[uint64]*waitList)
		}
		l = &waitList{}
		s.waits[h] = l
	}
	l.pushBack(w)
	return l
}

// dequeue removes w from key h's waiters, dropping the key's list once empty, and returns the list (nil then).
// Called with s.mu held.
func (s *keyShard[V]) dequeue(h uint64, w *waiter) *waitList {
	l := s.waits[h]
	if l == nil {
		return nil
	}
	l.remove(w)
	if l.len == 0 {
		delete(s.waits, h)
		return nil
	}
	return l
}

// len returns how many keys are tracked now (idle ones may or may not be counted yet).
func (m *keyMap[V]) len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// evictions returns how many idle keys have been forgotten so far.
func (m *keyMap[V]) evictions() uint64 {
	var n uint64
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += s.evictions
		s.mu.Unlock()
	}
	return n
}
