package lru

import (
	"math/bits"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// stripes counts hits and misses in several cache lines, so that goroutines on different CPUs rarely write
// the same one: a single shared counter would cost every Get a cache-line transfer between CPUs.
type stripes struct {
	s     []stripe
	shift uint8
}

type stripe struct {
	hits, misses atomic.Uint64
	_            [112]byte
}

func newStripes() *stripes {
	n := 32
	for n < 8*runtime.GOMAXPROCS(0) {
		n *= 2
	}
	return &stripes{s: make([]stripe, n), shift: uint8(64 - bits.TrailingZeros(uint(n)))}
}

func (st *stripes) add(hit bool) {
	// A goroutine's stack address picks its stripe: stable while the goroutine runs, and different for
	// goroutines running at the same time.
	var marker byte
	p := uint64(uintptr(unsafe.Pointer(&marker))) >> 11
	s := &st.s[(p*0x9e3779b97f4a7c15)>>st.shift]
	if hit {
		s.hits.Add(1)
	} else {
		s.misses.Add(1)
	}
}

func (st *stripes) sum() (hits, misses uint64) {
	for i := range st.s {
		hits += st.s[i].hits.Load()
		misses += st.s[i].misses.Load()
	}
	return hits, misses
}
