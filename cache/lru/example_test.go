package lru_test

import (
	"fmt"
	"time"

	"github.com/sluice-go/sluice/cache/lru"
)

func Example() {
	c, err := lru.New[string, int](2, lru.WithOnEvict(func(k string, v int, reason lru.EvictReason) {
		fmt.Printf("%s=%d left: %s\n", k, v, reason)
	}))
	if err != nil {
		panic(err)
	}
	c.Set("a", 1)
	c.Set("b", 2)
	c.Get("a")    // a is now the most recently used
	c.Set("c", 3) // so b is evicted
	_, ok := c.Get("b")
	fmt.Println("b cached:", ok)
	fmt.Println("len:", c.Len())
	// Output:
	// b=2 left: capacity
	// b cached: false
	// len: 2
}

func ExampleCache_SetWithTTL() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c, err := lru.New[string, string](100, lru.WithClock(func() time.Time { return now }))
	if err != nil {
		panic(err)
	}
	c.SetWithTTL("session", "alice", time.Minute)
	c.Set("config", "v1") // no TTL: stays until evicted
	now = now.Add(time.Minute)
	_, ok := c.Get("session")
	fmt.Println("session cached:", ok)
	v, ok := c.Get("config")
	fmt.Println("config:", v, ok)
	// Output:
	// session cached: false
	// config: v1 true
}

func ExampleWithOnEvict() {
	_, err := lru.New[int, string](10, lru.WithOnEvict(func(k string, v int, _ lru.EvictReason) {}))
	fmt.Println(err)
	// Output:
	// lru: WithOnEvict: hook must be func(int, string, lru.EvictReason), got func(string, int, lru.EvictReason)
}

func ExampleCache_Stats() {
	c, _ := lru.New[int, int](10)
	c.Set(1, 1)
	c.Get(1)
	c.Get(2)
	st := c.Stats()
	fmt.Printf("hits=%d misses=%d ratio=%.2f\n", st.Hits, st.Misses, st.HitRatio())
	// Output:
	// hits=1 misses=1 ratio=0.50
}

func ExampleCache_All() {
	c, _ := lru.New[string, int](3, lru.WithShards(1)) // one shard: an exact LRU, iterated in recency order
	c.Set("a", 1)
	c.Set("b", 2)
	c.Set("c", 3)
	c.Get("a")
	for k, v := range c.All() {
		fmt.Println(k, v)
	}
	// Output:
	// a 1
	// c 3
	// b 2
}
