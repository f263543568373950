package lru

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// refLRU is an obviously correct LRU with TTL: a slice ordered from most to least recently used.
type refLRU struct {
	cap     int
	entries []refEntry
}

type refEntry struct {
	key     int
	value   string
	expires time.Time // zero: never
}

func (r *refLRU) find(k int) int {
	return slices.IndexFunc(r.entries, func(e refEntry) bool { return e.key == k })
}

func (r *refLRU) expired(e refEntry, now time.Time) bool {
	return !e.expires.IsZero() && !now.Before(e.expires)
}

func (r *refLRU) get(k int, now time.Time) (string, bool, []evicted) {
	i := r.find(k)
	if i < 0 {
		return "", false, nil
	}
	e := r.entries[i]
	r.entries = slices.Delete(r.entries, i, i+1)
	if r.expired(e, now) {
		return "", false, []evicted{{e.key, e.value, EvictExpired}}
	}
	r.entries = slices.Insert(r.entries, 0, e)
	return e.value, true, nil
}

func (r *refLRU) set(k int, v string, ttl time.Duration, now time.Time) []evicted {
	var evs []evicted
	ne := refEntry{key: k, value: v}
	if ttl > 0 {
		ne.expires = now.Add(ttl)
	}
	if i := r.find(k); i >= 0 {
		e := r.entries[i]
		reason := EvictReplaced
		if r.expired(e, now) {
			reason = EvictExpired
		}
		evs = append(evs, evicted{e.key, e.value, reason})
		r.entries = slices.Delete(r.entries, i, i+1)
	} else if len(r.entries) == r.cap {
		e := r.entries[len(r.entries)-1]
		reason := EvictCapacity
		if r.expired(e, now) {
			reason = EvictExpired
		}
		evs = append(evs, evicted{e.key, e.value, reason})
		r.entries = r.entries[:len(r.entries)-1]
	}
	r.entries = slices.Insert(r.entries, 0, ne)
	return evs
}

func (r *refLRU) delete(k int, now time.Time) (bool, []evicted) {
	i := r.find(k)
	if i < 0 {
		return false, nil
	}
	e := r.entries[i]
	r.entries = slices.Delete(r.entries, i, i+1)
	if r.expired(e, now) {
		return false, []evicted{{e.key, e.value, EvictExpired}}
	}
	return true, []evicted{{e.key, e.value, EvictDeleted}}
}

func (r *refLRU) live(now time.Time) []int {
	var keys []int
	for _, e := range r.entries {
		if !r.expired(e, now) {
			keys = append(keys, e.key)
		}
	}
	return keys
}

// withExact makes every shard an exact LRU, so that a sharded cache can be compared with reference LRUs.
func withExact() Option { return optionFunc(func(c *config) { c.exact = true }) }

// TestModel drives the cache and one reference LRU per shard with the same random operations and compares
// every result, every hook call and, with one shard, the full recency order. Each shard is an exact LRU.
func TestModel(t *testing.T) {
	for _, tc := range []struct{ capacity, shards, keys int }{
		{1, 1, 3}, {4, 1, 8}, {16, 1, 40}, {16, 4, 40}, {64, 8, 200}, {7, 2, 30},
	} {
		for seed := range uint64(20) {
			t.Run(fmt.Sprintf("cap=%d/shards=%d/seed=%d", tc.capacity, tc.shards, seed), func(t *testing.T) {
				runModel(t, tc.capacity, tc.shards, tc.keys, seed)
			})
		}
	}
}

func runModel(t *testing.T, capacity, shards, keys int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 42))
	clk := newFakeClock()
	var rec recorder
	c := newTest(t, capacity, WithShards(shards), WithClock(clk.Now), WithOnEvict(rec.hook), withExact())
	refs := make([]refLRU, shards)
	for i := range refs {
		refs[i].cap = shareOf(capacity, shards, i)
	}
	ref := func(k int) *refLRU { return &refs[c.hash(k)>>c.shift] }
	for step := range 2000 {
		k := rng.IntN(keys)
		now := clk.Now()
		var want []evicted
		var what string
		switch op := rng.IntN(101); {
		case op < 40:
			what = fmt.Sprintf("Get(%d)", k)
			v, ok := c.Get(k)
			wv, wok, evs := ref(k).get(k, now)
			want = evs
			if v != wv || ok != wok {
				t.Fatalf("step %d: %s = %q, %v; want %q, %v", step, what, v, ok, wv, wok)
			}
		case op < 70:
			v := fmt.Sprint(step)
			what = fmt.Sprintf("Set(%d)", k)
			c.Set(k, v)
			want = ref(k).set(k, v, 0, now)
		case op < 82:
			v := fmt.Sprint(step)
			ttl := time.Duration(rng.IntN(4)) * time.Second
			what = fmt.Sprintf("SetWithTTL(%d, %s)", k, ttl)
			c.SetWithTTL(k, v, ttl)
			want = ref(k).set(k, v, ttl, now)
		case op < 90:
			what = fmt.Sprintf("Delete(%d)", k)
			ok := c.Delete(k)
			wok, evs := ref(k).delete(k, now)
			want = evs
			if ok != wok {
				t.Fatalf("step %d: %s = %v, want %v", step, what, ok, wok)
			}
		case op < 98:
			what = "advance"
			clk.Advance(time.Duration(rng.IntN(1500)) * time.Millisecond)
		case op == 98:
			size := shards + rng.IntN(2*capacity)
			what = fmt.Sprintf("Resize(%d)", size)
			n, err := c.Resize(size)
			if err != nil {
				t.Fatal(err)
			}
			dropped := 0
			for i := range refs {
				refs[i].cap = shareOf(size, shards, i)
				for len(refs[i].entries) > refs[i].cap {
					e := refs[i].entries[len(refs[i].entries)-1]
					reason := EvictCapacity
					if refs[i].expired(e, now) {
						reason = EvictExpired
					}
					want = append(want, evicted{e.key, e.value, reason})
					refs[i].entries = refs[i].entries[:len(refs[i].entries)-1]
					dropped++
				}
			}
			if n != dropped {
				t.Fatalf("step %d: %s = %d, want %d", step, what, n, dropped)
			}
		case op < 100:
			what = "Peek"
			_, ok := c.Peek(k)
			if want := slices.Contains(ref(k).live(now), k); ok != want {
				t.Fatalf("step %d: Peek(%d) ok = %v, want %v", step, k, ok, want)
			}
		default:
			what = "Purge"
			c.Purge()
			for i := range refs {
				for _, e := range refs[i].entries {
					want = append(want, evicted{e.key, e.value, EvictPurged})
				}
				refs[i].entries = nil
			}
		}
		if got := rec.take(); !slices.Equal(got, want) {
			t.Fatalf("step %d: %s: hook saw %v, want %v", step, what, got, want)
		}
		n := 0
		for i := range refs {
			n += len(refs[i].entries)
		}
		if c.Len() != n {
			t.Fatalf("step %d: %s: Len = %d, want %d", step, what, c.Len(), n)
		}
		if shards == 1 {
			if got, want := slices.Collect(c.Keys()), refs[0].live(clk.Now()); !slices.Equal(got, want) {
				t.Fatalf("step %d: %s: recency order %v, want %v", step, what, got, want)
			}
		}
	}
}

// TestClockPolicy checks a sharded cache against what its CLOCK policy promises: Get returns exactly what was
// stored and not yet reported to the hook, and the entry evicted for capacity was not hit since its shard's
// previous eviction, unless every entry of the shard was.
func TestClockPolicy(t *testing.T) {
	const shards, capacity, keys = 4, 256, 600
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 7))
		present := map[int]int{}
		hitSince := make([]map[int]bool, shards) // per shard: keys hit since its last eviction
		for i := range hitSince {
			hitSince[i] = map[int]bool{}
		}
		var c *Cache[int, int]
		shardOf := func(k int) int { return int(c.hash(k) >> c.shift) }
		c, err := New[int, int](capacity, WithShards(shards), WithOnEvict(func(k, v int, r EvictReason) {
			if r != EvictCapacity {
				return
			}
			delete(present, k)
			hs := hitSince[shardOf(k)]
			if hs[k] {
				for other := range present {
					if shardOf(other) == shardOf(k) && !hs[other] {
						t.Fatalf("seed %d: evicted key %d, hit since the last eviction, while key %d was not",
							seed, k, other)
					}
				}
			}
			clear(hs)
		}))
		if err != nil {
			t.Fatal(err)
		}
		for step := range 20000 {
			// Skewed keys: a hot set that stays and a tail that churns.
			k := int(float64(keys) * rng.Float64() * rng.Float64())
			switch op := rng.IntN(10); {
			case op < 3:
				delete(hitSince[shardOf(k)], k)
				present[k] = step
				c.Set(k, step)
			case op < 4:
				delete(hitSince[shardOf(k)], k)
				delete(present, k)
				c.Delete(k)
			default:
				v, ok := c.Get(k)
				want, wantOK := present[k]
				if ok != wantOK || v != want {
					t.Fatalf("seed %d step %d: Get(%d) = %d, %v; want %d, %v", seed, step, k, v, ok, want, wantOK)
				}
				if ok {
					hitSince[shardOf(k)][k] = true
				}
			}
		}
		if c.Len() != len(present) {
			t.Fatalf("seed %d: Len = %d, want %d", seed, c.Len(), len(present))
		}
	}
}
