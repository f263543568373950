package lru

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestConcurrent hammers every method from several goroutines; run with -race. Every value stored for key k
// is k's string, so a torn or misplaced entry shows up as a wrong value.
func TestConcurrent(t *testing.T) {
	var evictedCount atomic.Int64
	c, err := New[int, string](256, WithShards(8), WithOnEvict(func(k int, v string, _ EvictReason) {
		if v != fmt.Sprint(k) {
			t.Errorf("hook got %d=%q", k, v)
		}
		evictedCount.Add(1)
	}))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var gets atomic.Uint64
	for g := range 8 {
		wg.Go(func() {
			for i := range 5000 {
				k := (i*7 + g*13) % 600
				switch i % 10 {
				case 0, 1, 2:
					c.Set(k, fmt.Sprint(k))
				case 3:
					c.SetWithTTL(k, fmt.Sprint(k), time.Duration(i%3)*time.Millisecond)
				case 4:
					c.Delete(k)
				case 5:
					if g == 0 && i%1000 == 5 {
						c.Purge()
					}
					if g == 1 && i%1000 == 5 {
						if _, err := c.Resize(128 + i%256); err != nil {
							t.Error(err)
						}
					}
				default:
					gets.Add(1)
					if v, ok := c.Get(k); ok && v != fmt.Sprint(k) {
						t.Errorf("Get(%d) = %q", k, v)
					}
				}
			}
			for range c.All() {
			}
			c.Stats()
			c.DeleteExpired()
		})
	}
	wg.Wait()
	if n := c.Len(); n > c.Capacity() {
		t.Fatalf("Len %d exceeds capacity %d", n, c.Capacity())
	}
	if st := c.Stats(); st.Hits+st.Misses != gets.Load() {
		t.Fatalf("Stats count %d hits and %d misses for %d Gets", st.Hits, st.Misses, gets.Load())
	}
	if evictedCount.Load() == 0 {
		t.Fatal("no entry left the cache")
	}
}

// TestTTLSynctest checks expiry against the runtime's fake clock, with the default clock (time.Now).
func TestTTLSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var expired []int
		c, err := New[int, int](100, WithTTL(time.Minute), WithOnEvict(func(k, _ int, r EvictReason) {
			if r == EvictExpired {
				expired = append(expired, k)
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		c.Set(1, 1)
		c.SetWithTTL(2, 2, 10*time.Second)
		c.SetWithTTL(3, 3, 0)
		time.Sleep(10*time.Second - time.Nanosecond)
		if _, ok := c.Get(2); !ok {
			t.Fatal("entry expired early")
		}
		time.Sleep(time.Nanosecond)
		if _, ok := c.Get(2); ok {
			t.Fatal("Get returned an entry at its expiry")
		}
		time.Sleep(50 * time.Second)
		if _, ok := c.Get(1); ok {
			t.Fatal("default TTL not applied")
		}
		time.Sleep(time.Hour)
		if _, ok := c.Get(3); !ok {
			t.Fatal("entry without TTL expired")
		}
		if len(expired) != 2 || expired[0] != 2 || expired[1] != 1 {
			t.Fatalf("expired = %v, want [2 1]", expired)
		}
	})
}
