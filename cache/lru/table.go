package lru

import "sync/atomic"

// entry is one cached key and value. Its key, value, hash and expiry never change once it is published in a
// table, so readers use it without the lock; Set stores a new entry rather than changing a value in place.
type entry[K comparable, V any] struct {
	key     K
	value   V
	hash    uint64
	expires int64 // clock nanoseconds from which the entry is gone; 0 means never
	// used is set by a hit and cleared when the entry is given a second chance at the tail of the list.
	used atomic.Bool
	// prev and next link the shard's LRU list; prev is nil once the entry has left the shard.
	// Guarded by the shard's mu.
	prev, next *entry[K, V]
}

// table is an open-addressing hash table with linear probing, read without locks and written only under the
// shard's lock. Deleted slots hold a tombstone so that probes for other keys carry on past them. A table is
// never resized in place: the shard builds a new one and publishes it, and readers still probing the old one
// see a consistent, if slightly older, state.
type table[K comparable, V any] struct {
	slots []atomic.Pointer[entry[K, V]]
	mask  uint64
}

func newTable[K comparable, V any](capacity int) *table[K, V] {
	size := 8
	for size < 2*capacity {
		size *= 2
	}
	return &table[K, V]{slots: make([]atomic.Pointer[entry[K, V]], size), mask: uint64(size - 1)}
}

// lookup returns the entry for key, or nil. tomb marks deleted slots. It takes no lock.
func (t *table[K, V]) lookup(key K, h uint64, tomb *entry[K, V]) *entry[K, V] {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		e := t.slots[i].Load()
		if e == nil {
			return nil
		}
		if e != tomb && e.hash == h && e.key == key {
			return e
		}
	}
}

// find returns the slot of key, or -1 and the slot where key would be inserted: the first tombstone on its
// probe path, else the empty slot that ended it. Callers hold the shard's lock.
func (t *table[K, V]) find(key K, h uint64, tomb *entry[K, V]) (found, free int) {
	free = -1
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		e := t.slots[i].Load()
		switch {
		case e == nil:
			if free < 0 {
				free = int(i)
			}
			return -1, free
		case e == tomb:
			if free < 0 {
				free = int(i)
			}
		case e.hash == h && e.key == key:
			return int(i), free
		}
	}
}

// slotOf returns the slot holding e, which must be in t. Callers hold the shard's lock.
func (t *table[K, V]) slotOf(e *entry[K, V]) int {
	for i := e.hash & t.mask; ; i = (i + 1) & t.mask {
		if t.slots[i].Load() == e {
			return int(i)
		}
	}
}
