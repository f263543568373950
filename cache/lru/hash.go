package lru

import (
	"hash/maphash"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"unsafe"
)

// hasher hashes keys with a per-cache random seed. The high bits of a hash pick the shard, the low bits the
// table slot.
type hasher[K comparable] struct {
	seed maphash.Seed
	// intSize is 4 or 8 when K is an integer type of that size, whose hash is a multiply-xor of its bits with
	// the seed: several times cheaper than maphash for the most common kind of key. 0 otherwise.
	intSize uintptr
	seed64  uint64
}

func newHasher[K comparable]() hasher[K] {
	h := hasher[K]{seed: maphash.MakeSeed(), seed64: rand.Uint64()}
	switch t := reflect.TypeFor[K](); t.Kind() {
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		h.intSize = t.Size()
	}
	return h
}

func (h *hasher[K]) hash(key K) uint64 {
	var x uint64
	switch h.intSize {
	case 8:
		x = *(*uint64)(unsafe.Pointer(&key))
	case 4:
		x = uint64(*(*uint32)(unsafe.Pointer(&key)))
	default:
		return maphash.Comparable(h.seed, key)
	}
	hi, lo := bits.Mul64(x^h.seed64, 0x9e3779b97f4a7c15)
	return hi ^ lo
}
