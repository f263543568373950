package lru

import (
	"slices"
	"testing"
	"time"
)

// clockCache returns a one-shard cache using the CLOCK policy that sharded caches use, so that its eviction
// order is deterministic.
func clockCache(t *testing.T, capacity int, opts ...Option) *Cache[int, string] {
	c := newTest(t, capacity, append(opts, WithShards(1))...)
	c.shards[0].exact = false
	return c
}

func TestSecondChance(t *testing.T) {
	clk := newFakeClock()
	tests := []struct {
		name string
		ops  func(c *Cache[int, string])
		want []evicted
		keys []int // remaining, most recent first
	}{
		{"unused tail is evicted", func(c *Cache[int, string]) {
			c.Set(1, "a")
			c.Set(2, "b")
			c.Set(3, "c")
			c.Set(4, "d")
		}, []evicted{{1, "a", EvictCapacity}}, []int{4, 3, 2}},
		{"hit tail gets a second chance", func(c *Cache[int, string]) {
			c.Set(1, "a")
			c.Set(2, "b")
			c.Set(3, "c")
			c.Get(1)
			c.Set(4, "d")
		}, []evicted{{2, "b", EvictCapacity}}, []int{4, 1, 3}},
		{"all hit: oldest goes after a full turn", func(c *Cache[int, string]) {
			c.Set(1, "a")
			c.Set(2, "b")
			c.Set(3, "c")
			c.Get(3)
			c.Get(2)
			c.Get(1)
			c.Set(4, "d")
		}, []evicted{{1, "a", EvictCapacity}}, []int{4, 3, 2}},
		{"second chance is used up", func(c *Cache[int, string]) {
			c.Set(1, "a")
			c.Set(2, "b")
			c.Set(3, "c")
			c.Get(1)
			c.Set(4, "d") // 1 moves to the front, 2 goes
			c.Set(5, "e") // 3 goes
			c.Set(6, "f") // 1 goes: not hit since its second chance
		}, []evicted{{2, "b", EvictCapacity}, {3, "c", EvictCapacity}, {1, "a", EvictCapacity}}, []int{6, 5, 4}},
		{"expired tail gets no second chance", func(c *Cache[int, string]) {
			c.SetWithTTL(1, "a", time.Second)
			c.Set(2, "b")
			c.Set(3, "c")
			c.Get(1)
			clk.Advance(time.Second)
			c.Set(4, "d")
		}, []evicted{{1, "a", EvictExpired}}, []int{4, 3, 2}},
		{"Get does not reorder", func(c *Cache[int, string]) {
			c.Set(1, "a")
			c.Set(2, "b")
			c.Get(1)
		}, nil, []int{2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			c := clockCache(t, 3, WithOnEvict(r.hook), WithClock(clk.Now))
			tt.ops(c)
			if got := r.take(); !slices.Equal(got, tt.want) {
				t.Fatalf("evictions = %v, want %v", got, tt.want)
			}
			if got := slices.Collect(c.Keys()); !slices.Equal(got, tt.keys) {
				t.Fatalf("Keys() = %v, want %v", got, tt.keys)
			}
		})
	}
}
