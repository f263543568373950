package redisrate

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/sluice-go/sluice/internal/testsvc"
	"github.com/sluice-go/sluice/ratelimit"
)

// cluster is a real three-master Redis Cluster shared by the tests of this file, stopped in TestMain.
var cluster testsvc.SharedRedisCluster

// clusterClient returns a new client of the shared cluster (a process of its own), closed at the end of t.
func clusterClient(t *testing.T) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Require(t).Addrs()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// clusterCases are every algorithm, and GCRA with a burst other than Limit, each with its quota per key.
var clusterCases = []struct {
	name  string
	opts  []Option
	quota int
}{
	{"gcra", []Option{WithAlgorithm(GCRA)}, 5},
	{"gcra-burst", []Option{WithAlgorithm(GCRA), WithBurst(3)}, 3},
	{"sliding-window", []Option{WithAlgorithm(SlidingWindow)}, 5},
}

// clusterPrefix returns a key prefix no other test uses on the shared cluster.
func clusterPrefix() string {
	return fmt.Sprintf("sluice-test:%d:", testSeq.Add(1))
}

// TestClusterAdmissions: on a real cluster, limiters in two processes admit exactly the quota of each of many
// keys spread over the three masters, Reset gives every key its quota back, and n > 1 consumes n.
func TestClusterAdmissions(t *testing.T) {
	const keys, tries = 90, 8
	for _, tc := range clusterCases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			prefix := clusterPrefix()
			var limiters []*Limiter
			for range 2 {
				opts := append([]Option{WithPrefix(prefix)}, tc.opts...)
				limiters = append(limiters, mustNew(t, clusterClient(t), ratelimit.PerHour(5), opts...))
			}
			l := limiters[0]
			masters := map[string]bool{}
			for k := range keys {
				node, err := l.client.(*redis.ClusterClient).MasterForKey(ctx, l.Key(fmt.Sprint("user:", k)))
				if err != nil {
					t.Fatal(err)
				}
				masters[node.Options().Addr] = true
			}
			if len(masters) != 3 {
				t.Fatalf("%d keys on %d masters, want all 3", keys, len(masters))
			}

			admitted := make([]int, keys)
			var mu sync.Mutex
			var wg sync.WaitGroup
			for g := range 6 {
				wg.Go(func() {
					for i := g; i < keys*tries; i += 6 {
						k := i % keys
						d, err := limiters[g%2].Limit(ctx, fmt.Sprint("user:", k), 1)
						if err != nil {
							t.Error(err)
							return
						}
						if d.Allowed {
							mu.Lock()
							admitted[k]++
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			for k, n := range admitted {
				if n != tc.quota {
					t.Fatalf("key user:%d: %d of %d admitted, want the quota %d", k, n, tries, tc.quota)
				}
			}

			for k := range keys {
				key := fmt.Sprint("user:", k)
				if err := l.Reset(ctx, key); err != nil {
					t.Fatal(err)
				}
				if d, err := limiters[1].Limit(ctx, key, 0); err != nil || !d.Allowed || d.Remaining != tc.quota {
					t.Fatalf("%s after Reset: %+v, %v; want the full quota %d", key, d, err, tc.quota)
				}
				if d, err := l.Limit(ctx, key, tc.quota); err != nil || !d.Allowed || d.Remaining != 0 {
					t.Fatalf("%s: n = quota after Reset: %+v, %v", key, d, err)
				}
				if d, err := limiters[1].Limit(ctx, key, 1); err != nil || d.Allowed {
					t.Fatalf("%s: one more after the quota: %+v, %v", key, d, err)
				}
			}
		})
	}
}

// TestClusterScriptCache: each master has its own script cache; after every one is flushed, the NOSCRIPT
// fallback loads the script on the node that owns each key.
func TestClusterScriptCache(t *testing.T) {
	for _, tc := range clusterCases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := clusterClient(t)
			l := mustNew(t, c, ratelimit.PerHour(5), append([]Option{WithPrefix(clusterPrefix())}, tc.opts...)...)
			for round := range 3 {
				err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
					return m.ScriptFlush(ctx).Err()
				})
				if err != nil {
					t.Fatal(err)
				}
				for k := range 30 {
					d, err := l.Limit(ctx, fmt.Sprint("k", k), 1)
					if err != nil || !d.Allowed || d.Remaining != tc.quota-1-round {
						t.Fatalf("round %d, key k%d after SCRIPT FLUSH: %+v, %v", round, k, d, err)
					}
				}
			}
		})
	}
}

// TestClusterSlotMoved: a key's state moves with its slot to another master, and a limiter whose client still
// routes to the old one follows the MOVED reply and keeps counting.
func TestClusterSlotMoved(t *testing.T) {
	for _, tc := range clusterCases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := clusterClient(t)
			l := mustNew(t, c, ratelimit.PerHour(5), append([]Option{WithPrefix(clusterPrefix())}, tc.opts...)...)
			if d, err := l.Limit(ctx, "tenant:7", tc.quota-1); err != nil || !d.Allowed {
				t.Fatalf("before the move: %+v, %v", d, err)
			}
			from, to, err := cluster.Require(t).MoveSlot(ctx, l.Key("tenant:7"))
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range []bool{true, false} {
				d, err := l.Limit(ctx, "tenant:7", 1)
				if err != nil || d.Allowed != want || d.Remaining != 0 {
					t.Fatalf("call %d after the slot moved from %s to %s: %+v, %v; want allowed %v", i, from, to, d, err, want)
				}
			}
			if err := l.Reset(ctx, "tenant:7"); err != nil {
				t.Fatal(err)
			}
			if ok, err := l.Allow(ctx, "tenant:7"); !ok || err != nil {
				t.Fatalf("after Reset on the new master: %v, %v", ok, err)
			}
		})
	}
}
