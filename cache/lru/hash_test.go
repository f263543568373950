package lru

import (
	"fmt"
	"testing"
)

// TestHashSpread checks that integer keys with regular patterns spread evenly over shards and that table
// probes stay short.
func TestHashSpread(t *testing.T) {
	const n, shards = 1 << 16, 64
	patterns := map[string]func(i int) int{
		"sequential":      func(i int) int { return i },
		"stride 4096":     func(i int) int { return i << 12 },
		"stride 2^32":     func(i int) int { return i << 32 },
		"high bits":       func(i int) int { return i << 48 },
		"negative":        func(i int) int { return -i },
		"sequential+2^40": func(i int) int { return i + 1<<40 },
	}
	for name, key := range patterns {
		t.Run(name, func(t *testing.T) {
			c, err := New[int, int](2*n, WithShards(shards))
			if err != nil {
				t.Fatal(err)
			}
			counts := make([]int, shards)
			for i := range n {
				counts[c.hash(key(i))>>c.shift]++
			}
			for s, got := range counts {
				if mean := n / shards; got < mean*8/10 || got > mean*12/10 {
					t.Fatalf("shard %d holds %d keys, mean %d", s, got, mean)
				}
			}
			for i := range n {
				c.Set(key(i), i)
			}
			probes := 0
			for i := range n {
				k := key(i)
				h := c.hash(k)
				tb := c.shard(h).table.Load()
				for j := h & tb.mask; ; j = (j + 1) & tb.mask {
					probes++
					if e := tb.slots[j].Load(); e == nil || e.key == k {
						break
					}
				}
			}
			if avg := float64(probes) / n; avg > 2 {
				t.Fatalf("%.2f probes per lookup", avg)
			}
		})
	}
	// Other key types go through hash/maphash.
	s, err := New[string, int](1024, WithShards(8))
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, 8)
	for i := range 8000 {
		counts[s.hash(fmt.Sprint("key-", i))>>s.shift]++
	}
	for sh, got := range counts {
		if got < 800 || got > 1200 {
			t.Fatalf("string keys: shard %d holds %d of 8000", sh, got)
		}
	}
}

func TestGetHitAllocsByKeyType(t *testing.T) {
	type pair struct {
		tenant string
		id     int64
	}
	check := func(name string, get func()) {
		if a := testing.AllocsPerRun(1000, get); a != 0 {
			t.Errorf("%s keys: Get hit allocates %v times", name, a)
		}
	}
	ci, _ := New[int32, int](1000, WithShards(8))
	ci.Set(7, 1)
	check("int32", func() { ci.Get(7) })
	cu, _ := New[uint64, int](1000, WithShards(8))
	cu.Set(7, 1)
	check("uint64", func() { cu.Get(7) })
	cp, _ := New[pair, int](1000, WithShards(8))
	cp.Set(pair{"a", 7}, 1)
	check("struct", func() { cp.Get(pair{"a", 7}) })
	if _, ok := cp.Get(pair{"a", 7}); !ok {
		t.Fatal("struct key not found")
	}
	if _, ok := ci.Get(7); !ok {
		t.Fatal("int32 key not found")
	}
}
