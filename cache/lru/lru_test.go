package lru

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type evicted struct {
	key    int
	value  string
	reason EvictReason
}

// recorder collects hook calls.
type recorder struct {
	mu  sync.Mutex
	got []evicted
}

func (r *recorder) hook(k int, v string, reason EvictReason) {
	r.mu.Lock()
	r.got = append(r.got, evicted{k, v, reason})
	r.mu.Unlock()
}

func (r *recorder) take() []evicted {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

// fakeClock is a settable clock for tests that do not run under synctest.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func newTest(t *testing.T, capacity int, opts ...Option) *Cache[int, string] {
	t.Helper()
	c, err := New[int, string](capacity, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		opts     []Option
		want     string
	}{
		{"zero capacity", 0, nil, "lru: New: capacity must be >= 1, got 0"},
		{"negative capacity", -3, nil, "lru: New: capacity must be >= 1, got -3"},
		{"negative ttl", 10, []Option{WithTTL(-time.Second)}, "lru: WithTTL: ttl must be >= 0, got -1s"},
		{"shards not power of two", 10, []Option{WithShards(3)}, "lru: WithShards: shards must be a power of two >= 1, got 3"},
		{"zero shards", 10, []Option{WithShards(-1)}, "lru: WithShards: shards must be a power of two >= 1, got -1"},
		{"shards above capacity", 10, []Option{WithShards(16)}, "lru: WithShards: shards must not exceed the capacity 10, got 16"},
		{"hook of other types", 10, []Option{WithOnEvict(func(string, int, EvictReason) {})},
			"lru: WithOnEvict: hook must be func(int, string, lru.EvictReason), got func(string, int, lru.EvictReason)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New[int, string](tt.capacity, tt.opts...)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("New error = %v, want %q", err, tt.want)
			}
			if c != nil {
				t.Fatal("New returned a cache with an error")
			}
		})
	}
}

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name       string
		capacity   int
		opts       []Option
		wantShards int
	}{
		{"small capacity is one shard", 100, nil, 1},
		{"explicit shards", 100, []Option{WithShards(4)}, 4},
		{"last WithShards wins", 100, []Option{WithShards(4), WithShards(2)}, 2},
		{"shards equal to capacity", 8, []Option{WithShards(8)}, 8},
		{"nil hook is no hook", 8, []Option{WithOnEvict[int, string](nil)}, 1},
		{"mismatched hook replaced by nil", 8, []Option{WithOnEvict(func(string, int, EvictReason) {}),
			WithOnEvict[string, int](nil)}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTest(t, tt.capacity, tt.opts...)
			if got := len(c.shards); got != tt.wantShards {
				t.Fatalf("shards = %d, want %d", got, tt.wantShards)
			}
			total := 0
			for i := range c.shards {
				total += int(c.shards[i].cap)
			}
			if total != tt.capacity || c.Capacity() != tt.capacity {
				t.Fatalf("shard capacities sum to %d, Capacity() = %d, want %d", total, c.Capacity(), tt.capacity)
			}
		})
	}
}

func TestDefaultShards(t *testing.T) {
	for _, capacity := range []int{1, 63, 64, 128, 1000, 10_000, 1 << 20} {
		n := defaultShards(capacity)
		if n < 1 || n&(n-1) != 0 || n > maxShards || (n > 1 && capacity/n < minShardCapacity) {
			t.Errorf("defaultShards(%d) = %d", capacity, n)
		}
	}
}

func TestGetSetDeleteLen(t *testing.T) {
	type op struct {
		kind  string // get, set, delete, len, purge
		key   int
		value string
		want  string // get: value or "-" for a miss; delete: "true"/"false"; len: count
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{"miss on empty", []op{{"get", 1, "", "-"}, {"len", 0, "", "0"}}},
		{"set then get", []op{{"set", 1, "a", ""}, {"get", 1, "", "a"}, {"len", 0, "", "1"}}},
		{"overwrite", []op{{"set", 1, "a", ""}, {"set", 1, "b", ""}, {"get", 1, "", "b"}, {"len", 0, "", "1"}}},
		{"delete present", []op{{"set", 1, "a", ""}, {"delete", 1, "", "true"}, {"get", 1, "", "-"}, {"len", 0, "", "0"}}},
		{"delete absent", []op{{"delete", 1, "", "false"}}},
		{"delete twice", []op{{"set", 1, "a", ""}, {"delete", 1, "", "true"}, {"delete", 1, "", "false"}}},
		{"purge", []op{{"set", 1, "a", ""}, {"set", 2, "b", ""}, {"purge", 0, "", ""}, {"len", 0, "", "0"},
			{"get", 1, "", "-"}, {"set", 3, "c", ""}, {"get", 3, "", "c"}}},
		{"evicts least recent", []op{{"set", 1, "a", ""}, {"set", 2, "b", ""}, {"set", 3, "c", ""},
			{"set", 4, "d", ""}, {"get", 1, "", "-"}, {"get", 2, "", "b"}, {"len", 0, "", "3"}}},
		{"get promotes", []op{{"set", 1, "a", ""}, {"set", 2, "b", ""}, {"set", 3, "c", ""},
			{"get", 1, "", "a"}, {"set", 4, "d", ""}, {"get", 2, "", "-"}, {"get", 1, "", "a"}}},
		{"set promotes", []op{{"set", 1, "a", ""}, {"set", 2, "b", ""}, {"set", 3, "c", ""},
			{"set", 1, "A", ""}, {"set", 4, "d", ""}, {"get", 2, "", "-"}, {"get", 1, "", "A"}}},
		{"slot reused after delete", []op{{"set", 1, "a", ""}, {"set", 2, "b", ""}, {"set", 3, "c", ""},
			{"delete", 2, "", "true"}, {"set", 4, "d", ""}, {"get", 1, "", "a"}, {"get", 3, "", "c"},
			{"get", 4, "", "d"}, {"len", 0, "", "3"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTest(t, 3, WithShards(1))
			for i, o := range tt.ops {
				var got string
				switch o.kind {
				case "get":
					v, ok := c.Get(o.key)
					got = "-"
					if ok {
						got = v
					}
				case "set":
					c.Set(o.key, o.value)
				case "delete":
					got = fmt.Sprint(c.Delete(o.key))
				case "len":
					got = fmt.Sprint(c.Len())
				case "purge":
					c.Purge()
				}
				if o.want != "" && got != o.want {
					t.Fatalf("op %d %s(%d) = %s, want %s", i, o.kind, o.key, got, o.want)
				}
			}
		})
	}
}

func TestEvictionOrder(t *testing.T) {
	var r recorder
	c := newTest(t, 4, WithShards(1), WithOnEvict(r.hook))
	for k := range 4 {
		c.Set(k, fmt.Sprint(k))
	}
	c.Get(0)        // order, most recent first: 0 3 2 1
	c.Peek(1)       // Peek does not promote
	c.Set(2, "two") // 2 0 3 1
	for k := 10; k < 14; k++ {
		c.Set(k, fmt.Sprint(k))
	}
	want := []evicted{{2, "2", EvictReplaced}, {1, "1", EvictCapacity}, {3, "3", EvictCapacity},
		{0, "0", EvictCapacity}, {2, "two", EvictCapacity}}
	if got := r.take(); !slices.Equal(got, want) {
		t.Fatalf("evictions = %v, want %v", got, want)
	}
	if keys := slices.Collect(c.Keys()); !slices.Equal(keys, []int{13, 12, 11, 10}) {
		t.Fatalf("Keys() = %v, want most recent first", keys)
	}
}

func TestOnEvictReasons(t *testing.T) {
	clk := newFakeClock()
	var r recorder
	c := newTest(t, 2, WithShards(1), WithOnEvict(r.hook), WithClock(clk.Now))
	steps := []struct {
		name string
		do   func()
		want []evicted
	}{
		{"insert", func() { c.Set(1, "a") }, nil},
		{"replace", func() { c.Set(1, "b") }, []evicted{{1, "a", EvictReplaced}}},
		{"delete", func() { c.Delete(1) }, []evicted{{1, "b", EvictDeleted}}},
		{"delete absent", func() { c.Delete(1) }, nil},
		{"capacity", func() { c.Set(1, "a"); c.Set(2, "b"); c.Set(3, "c") }, []evicted{{1, "a", EvictCapacity}}},
		{"expired on get", func() {
			c.SetWithTTL(4, "d", time.Second)
			clk.Advance(time.Second)
			c.Get(4)
		}, []evicted{{2, "b", EvictCapacity}, {4, "d", EvictExpired}}},
		{"expired at tail", func() {
			c.Purge()
			r.take()
			c.SetWithTTL(5, "e", time.Second)
			c.Set(6, "f")
			clk.Advance(2 * time.Second)
			c.Set(7, "g")
		}, []evicted{{5, "e", EvictExpired}}},
		{"expired on replace", func() {
			c.SetWithTTL(6, "f2", time.Second)
			clk.Advance(time.Second)
			c.Set(6, "f3")
		}, []evicted{{6, "f", EvictReplaced}, {6, "f2", EvictExpired}}},
		{"expired on delete", func() {
			c.SetWithTTL(6, "f4", time.Second)
			clk.Advance(time.Second)
			if c.Delete(6) {
				t.Error("Delete of an expired entry reported true")
			}
		}, []evicted{{6, "f3", EvictReplaced}, {6, "f4", EvictExpired}}},
		{"purge", func() { c.Purge() }, []evicted{{7, "g", EvictPurged}}},
	}
	for _, st := range steps {
		st.do()
		if got := r.take(); !slices.Equal(got, st.want) {
			t.Fatalf("%s: evictions = %v, want %v", st.name, got, st.want)
		}
	}
	st := c.Stats()
	if st.Evictions != 2 || st.Expirations != 4 {
		t.Fatalf("Stats = %+v, want 2 evictions and 4 expirations", st)
	}
}

// The hook runs without the shard lock held, so it can use the cache.
func TestOnEvictReentrant(t *testing.T) {
	var c *Cache[int, string]
	var seen []int
	c = newTest(t, 1, WithOnEvict(func(k int, _ string, _ EvictReason) {
		seen = append(seen, k)
		c.Len()
		c.Peek(k)
	}))
	c.Set(1, "a")
	c.Set(2, "b")
	c.Delete(2)
	c.Set(3, "c")
	c.Purge()
	if !slices.Equal(seen, []int{1, 2, 3}) {
		t.Fatalf("hook saw %v", seen)
	}
}

// The hook of a Resize runs with no lock held, Resize's own included, so it may resize the cache too.
func TestOnEvictMayResize(t *testing.T) {
	var c *Cache[int, string]
	var nested atomic.Bool
	c = newTest(t, 4, WithShards(1), WithOnEvict(func(int, string, EvictReason) {
		if nested.CompareAndSwap(false, true) {
			if _, err := c.Resize(1); err != nil {
				t.Error(err)
			}
		}
	}))
	for k := range 4 {
		c.Set(k, "v")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Resize(2)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Resize from the hook of a Resize deadlocked")
	}
	if c.Len() != 1 || c.Capacity() != 1 {
		t.Fatalf("after the nested Resize(1): Len = %d, Capacity = %d, want 1", c.Len(), c.Capacity())
	}
}

func TestTTL(t *testing.T) {
	clk := newFakeClock()
	c := newTest(t, 10, WithTTL(time.Minute), WithClock(clk.Now))
	c.Set(1, "default")
	c.SetWithTTL(2, "short", time.Second)
	c.SetWithTTL(3, "forever", 0)
	c.SetWithTTL(4, "forever too", -time.Second)
	c.SetWithTTL(5, "max", time.Duration(1<<63-1))

	check := func(when string, want map[int]bool) {
		t.Helper()
		for k, present := range want {
			if _, ok := c.Peek(k); ok != present {
				t.Errorf("%s: Peek(%d) ok = %v, want %v", when, k, ok, present)
			}
			if c.Contains(k) != present {
				t.Errorf("%s: Contains(%d) = %v, want %v", when, k, !present, present)
			}
		}
	}
	check("at once", map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true})
	clk.Advance(time.Second - 1)
	check("just before 1s", map[int]bool{1: true, 2: true})
	clk.Advance(1)
	check("at 1s", map[int]bool{1: true, 2: false, 3: true})
	if _, ok := c.Get(2); ok {
		t.Fatal("Get returned an expired entry")
	}
	if c.Len() != 4 {
		t.Fatalf("Len = %d after Get removed the expired entry, want 4", c.Len())
	}
	clk.Advance(time.Minute)
	check("after a minute", map[int]bool{1: false, 3: true, 4: true, 5: true})
	if keys := slices.Sorted(c.Keys()); !slices.Equal(keys, []int{3, 4, 5}) {
		t.Fatalf("Keys() = %v, want [3 4 5]", keys)
	}
	if n := c.DeleteExpired(); n != 1 {
		t.Fatalf("DeleteExpired = %d, want 1", n)
	}
	if c.Len() != 3 {
		t.Fatalf("Len = %d, want 3", c.Len())
	}
}

func TestNoClockReadWithoutTTL(t *testing.T) {
	reads := 0
	c := newTest(t, 10, WithClock(func() time.Time { reads++; return time.Time{} }))
	reads = 0
	for k := range 20 {
		c.Set(k, "v")
		c.Get(k)
		c.Peek(k)
		c.Delete(k - 5)
	}
	c.DeleteExpired()
	if reads != 0 {
		t.Fatalf("clock read %d times without any TTL", reads)
	}
	c.SetWithTTL(1, "v", time.Hour)
	if reads != 1 {
		t.Fatalf("SetWithTTL read the clock %d times, want 1", reads)
	}
	reads = 0
	c.Get(1)
	if reads != 1 {
		t.Fatalf("Get read the clock %d times, want 1", reads)
	}
}

func TestResize(t *testing.T) {
	var r recorder
	c := newTest(t, 4, WithShards(1), WithOnEvict(r.hook))
	for k := range 4 {
		c.Set(k, "v")
	}
	n, err := c.Resize(2)
	if err != nil || n != 2 {
		t.Fatalf("Resize(2) = %d, %v; want 2, nil", n, err)
	}
	if got := r.take(); !slices.Equal(got, []evicted{{0, "v", EvictCapacity}, {1, "v", EvictCapacity}}) {
		t.Fatalf("evictions = %v", got)
	}
	c.Set(9, "v")
	if c.Len() != 2 || c.Contains(2) {
		t.Fatalf("after Resize(2) and a Set: Len = %d, Contains(2) = %v", c.Len(), c.Contains(2))
	}
	if n, err := c.Resize(8); err != nil || n != 0 {
		t.Fatalf("Resize(8) = %d, %v", n, err)
	}
	for k := 10; k < 16; k++ {
		c.Set(k, "v")
	}
	if c.Len() != 8 || c.Capacity() != 8 {
		t.Fatalf("after growing: Len = %d, Capacity = %d, want 8", c.Len(), c.Capacity())
	}
	c8 := newTest(t, 8, WithShards(4))
	if _, err := c8.Resize(3); err == nil || !strings.Contains(err.Error(), "lru: Resize: capacity must be") {
		t.Fatalf("Resize below the shard count: err = %v", err)
	}
	if c8.Capacity() != 8 {
		t.Fatal("failed Resize changed the capacity")
	}
}

func TestStats(t *testing.T) {
	c := newTest(t, 2, WithShards(1))
	if c.Stats().HitRatio() != 0 {
		t.Fatal("HitRatio of an unused cache must be 0")
	}
	c.Set(1, "a")
	c.Get(1)
	c.Get(1)
	c.Get(2)
	c.Peek(3)
	c.Set(2, "b")
	c.Set(3, "c")
	want := Stats{Hits: 2, Misses: 1, Evictions: 1}
	if st := c.Stats(); st != want {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
	if r := c.Stats().HitRatio(); r != 2.0/3 {
		t.Fatalf("HitRatio = %v", r)
	}
	off := newTest(t, 2, WithStats(false))
	off.Set(1, "a")
	off.Get(1)
	off.Get(2)
	if st := off.Stats(); st.Hits != 0 || st.Misses != 0 {
		t.Fatalf("Stats with WithStats(false) = %+v, want no hits or misses", st)
	}
}

func TestAllStopsEarly(t *testing.T) {
	c := newTest(t, 100, WithShards(4))
	for k := range 100 {
		c.Set(k, "v")
	}
	n := 0
	for range c.All() {
		n++
		if n == 10 {
			break
		}
	}
	if n != 10 {
		t.Fatalf("iterated %d", n)
	}
	if got := len(slices.Collect(c.Keys())); got != c.Len() {
		t.Fatalf("Keys yielded %d keys, want Len() = %d", got, c.Len())
	}
}

func TestEvictReasonString(t *testing.T) {
	for r, want := range map[EvictReason]string{EvictCapacity: "capacity", EvictExpired: "expired",
		EvictDeleted: "deleted", EvictReplaced: "replaced", EvictPurged: "purged", 0: "EvictReason(0)"} {
		if r.String() != want {
			t.Errorf("%d.String() = %q, want %q", r, r.String(), want)
		}
	}
}

func TestGetHitAllocs(t *testing.T) {
	for _, ttl := range []time.Duration{0, time.Hour} {
		c, err := New[string, int](1000, WithShards(8), WithTTL(ttl))
		if err != nil {
			t.Fatal(err)
		}
		c.Set("k", 1)
		if a := testing.AllocsPerRun(1000, func() { c.Get("k") }); a != 0 {
			t.Errorf("ttl %v: Get hit allocates %v times", ttl, a)
		}
	}
}
