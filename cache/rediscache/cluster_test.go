package rediscache_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluice-go/sluice/cache/rediscache"
	"github.com/sluice-go/sluice/internal/testsvc"
)

// cluster is a real three-master Redis Cluster shared by the tests of this file, stopped in TestMain.
var cluster testsvc.SharedRedisCluster

// newClusterClient returns a client of the shared cluster whose connections are named name, closed at the end
// of t.
func newClusterClient(t *testing.T, name string) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Require(t).Addrs(), ClientName: name,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

// newClusterStore returns a Store on a new cluster client, and the client.
func newClusterStore(t *testing.T) (*redis.ClusterClient, *rediscache.Store) {
	t.Helper()
	c := newClusterClient(t, "")
	s, err := rediscache.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

// clusterNamespace returns a namespace no other test on the shared cluster uses.
func clusterNamespace(t *testing.T) string {
	return fmt.Sprintf("sluice-test:%s:%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
}

// keysByMaster groups n keys made by key(i) by the address of the master that holds their slot, and fails t
// unless they reach all three masters.
func keysByMaster(t *testing.T, c *redis.ClusterClient, n int, key func(i int) string) map[string][]int {
	t.Helper()
	by := map[string][]int{}
	for i := range n {
		node, err := c.MasterForKey(context.Background(), key(i))
		if err != nil {
			t.Fatal(err)
		}
		by[node.Options().Addr] = append(by[node.Options().Addr], i)
	}
	if len(by) != 3 {
		t.Fatalf("%d keys on %d masters, want all 3", n, len(by))
	}
	return by
}

// TestClusterStore: on a real cluster, Get, Set and Delete reach the master of each key, and MGet of keys on
// all three masters, present and absent, answers each in order.
func TestClusterStore(t *testing.T) {
	ctx := context.Background()
	ns := clusterNamespace(t)
	c, s := newClusterStore(t)
	const n = 60
	key := func(i int) string { return fmt.Sprintf("%s:k%d", ns, i) }
	keysByMaster(t, c, n, key)
	var keys []string
	for i := range n {
		keys = append(keys, key(i))
		if i%3 == 2 {
			continue // absent
		}
		if err := s.Set(ctx, key(i), []byte(fmt.Sprint(i)), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		t.Helper()
		vals, found, err := s.MGet(ctx, keys)
		if err != nil || len(vals) != n || len(found) != n {
			t.Fatalf("%s: MGet of %d keys = %d values, %d found, %v", when, n, len(vals), len(found), err)
		}
		for i := range n {
			present := i%3 != 2 && i != 4
			if found[i] != present || (present && string(vals[i]) != fmt.Sprint(i)) {
				t.Fatalf("%s: MGet[%d] = %q, found %v; want found %v", when, i, vals[i], found[i], present)
			}
			v, ok, err := s.Get(ctx, key(i))
			if err != nil || ok != present || (present && string(v) != fmt.Sprint(i)) {
				t.Fatalf("%s: Get %s = %q, %v, %v", when, key(i), v, ok, err)
			}
		}
	}
	if err := s.Delete(ctx, key(4)); err != nil {
		t.Fatal(err)
	}
	check("after the writes")
	if ttl, err := c.PTTL(ctx, key(0)).Result(); err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("PTTL after Set with a minute = %s, %v", ttl, err)
	}
	if vals, found, err := s.MGet(ctx, nil); err != nil || len(vals) != 0 || len(found) != 0 {
		t.Fatalf("MGet of no keys = %v, %v, %v", vals, found, err)
	}
}

// TestClusterInvalidation: two cache instances, each with its own cluster client, load through, read in bulk
// and invalidate each other's local copies of keys on every master, whichever node their subscriptions are
// connected to.
func TestClusterInvalidation(t *testing.T) {
	ctx := context.Background()
	ns := clusterNamespace(t)
	var src db
	names := []string{fmt.Sprintf("sluice-test-a-%d", time.Now().UnixNano()), fmt.Sprintf("sluice-test-b-%d", time.Now().UnixNano())}
	ca, cb := newClusterClient(t, names[0]), newClusterClient(t, names[1])
	a, b := newInstanceOn(t, ca, names[0], ns, &src), newInstanceOn(t, cb, names[1], ns, &src)

	// The subscriptions are on the master of the channel's slot; the keys are on all three.
	sub, err := ca.MasterForKey(ctx, ns+":invalidate")
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	byMaster := keysByMaster(t, ca, n, func(i int) string { return fmt.Sprintf("%s:v1:k%d", ns, i) })
	t.Logf("subscriptions on %s; keys per master: %v", sub.Options().Addr, byMaster)
	var keys []string
	for i := range n {
		keys = append(keys, fmt.Sprint("k", i))
	}

	// Load-through and bulk reads: b's GetMany finds what a loaded in Redis.
	for _, k := range keys[:n/2] {
		if v, err := a.c.Get(ctx, k); err != nil || v != "db:"+k {
			t.Fatalf("Get %s = %q, %v", k, v, err)
		}
	}
	m, err := b.c.GetMany(ctx, keys)
	if err != nil || len(m) != n {
		t.Fatalf("GetMany = %d values, %v", len(m), err)
	}
	for _, k := range keys {
		if m[k] != "db:"+k {
			t.Fatalf("GetMany[%s] = %q", k, m[k])
		}
	}
	if loads := src.loads.Load(); loads != n {
		t.Fatalf("%d loads for %d keys, want each loaded once across both instances", loads, n)
	}
	if st := b.c.Stats(); st.RemoteHits != n/2 || st.RemoteMisses != n-n/2 {
		t.Fatalf("b stats %+v: want %d remote hits", st, n/2)
	}

	// Writes on one instance drop the other's local copy, for keys on every master, in both directions.
	for i, k := range keys {
		writer, reader := a, b
		if i%2 == 1 {
			writer, reader = b, a
		}
		if _, err := reader.c.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
		drain(reader.local.deleted)
		want := "db:" + k
		if i%3 == 0 {
			if err := writer.c.Delete(ctx, k); err != nil {
				t.Fatal(err)
			}
		} else {
			want = fmt.Sprint("set-", i)
			src.write(k, want)
			if err := writer.c.Set(ctx, k, want); err != nil {
				t.Fatal(err)
			}
		}
		awaitInvalidated(t, reader, k, want)
	}
	for _, in := range []*instance{a, b} {
		if st := in.c.Stats(); st.InvalidationsReceived != n/2 || st.InvalidationsSent != n/2 {
			t.Fatalf("stats %+v: want %d invalidations sent and received, none of its own", st, n/2)
		}
	}
}

// TestClusterLostSubscription: when the node holding a subscription cuts its connection, the instance drops
// its local tier, subscribes again through the cluster client and receives invalidations again.
func TestClusterLostSubscription(t *testing.T) {
	ctx := context.Background()
	ns := clusterNamespace(t)
	var src db
	names := []string{fmt.Sprintf("sluice-test-a-%d", time.Now().UnixNano()), fmt.Sprintf("sluice-test-b-%d", time.Now().UnixNano())}
	a := newInstanceOn(t, newClusterClient(t, names[0]), names[0], ns, &src)
	b := newInstanceOn(t, newClusterClient(t, names[1]), names[1], ns, &src)
	if _, err := b.c.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	drain(b.local.purged)
	killed := 0
	for _, addr := range cluster.Require(t).Addrs() {
		killed += killSubscriptions(t, addr, names[1])
	}
	if killed != 1 {
		t.Fatalf("killed %d subscription connections of b, want 1", killed)
	}
	deadline := time.After(10 * time.Second)
	for flushes := 0; flushes < 2; flushes++ { // when the loss is seen, and when the subscription is back
		select {
		case <-b.local.purged:
		case <-deadline:
			t.Fatalf("%d local flushes after the subscription broke, want 2", flushes)
		}
	}
	if _, err := b.c.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	drain(b.local.deleted)
	if err := a.c.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.local.deleted:
	case <-deadline:
		t.Fatal("no invalidation delivered after the subscription came back")
	}
}

// TestClusterSlotMoved: right after slots move to other masters, a Store whose client still routes by the old
// slot map answers MGet, Set and Delete through the MOVED replies, and invalidations still cross between two
// instances, for moved keys and with the channel's own slot moved.
func TestClusterSlotMoved(t *testing.T) {
	ctx := context.Background()
	ns := clusterNamespace(t)
	rc := cluster.Require(t)
	c, s := newClusterStore(t)
	const n = 12
	key := func(i int) string { return fmt.Sprintf("%s:k%d", ns, i) }
	keysByMaster(t, c, n, key)
	var keys []string
	want := map[int]string{}
	for i := range n {
		keys = append(keys, key(i))
		want[i] = fmt.Sprint(i)
		if err := s.Set(ctx, key(i), []byte(want[i]), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// Each move is followed at once by calls for the moved slot; key 0's slot moves twice in a row.
	for round, i := range []int{0, 0, 1, 2, 3, 4, 5, 6, 7, 8} {
		from, to, err := rc.MoveSlot(ctx, key(i))
		if err != nil {
			t.Fatal(err)
		}
		vals, found, err := s.MGet(ctx, keys)
		if err != nil {
			t.Fatalf("round %d, MGet after %s moved from %s to %s: %v", round, key(i), from, to, err)
		}
		for j := range n {
			v, ok := want[j]
			if found[j] != ok || string(vals[j]) != v {
				t.Fatalf("round %d: MGet[%d] = %q, found %v; want %q, %v", round, j, vals[j], found[j], v, ok)
			}
		}
		switch round % 3 {
		case 0:
			want[i] = fmt.Sprint("set-", round)
			if err := s.Set(ctx, key(i), []byte(want[i]), time.Minute); err != nil {
				t.Fatalf("round %d, Set after the move: %v", round, err)
			}
		case 1:
			delete(want, i)
			if err := s.Delete(ctx, key(i)); err != nil {
				t.Fatalf("round %d, Delete after the move: %v", round, err)
			}
		}
		v, ok, err := s.Get(ctx, key(i))
		if err != nil || ok != (want[i] != "") || string(v) != want[i] {
			t.Fatalf("round %d, Get %s = %q, %v, %v; want %q", round, key(i), v, ok, err, want[i])
		}
	}

	// Invalidations: each write follows a move of its key's slot, and halfway the channel's slot moves too.
	var src db
	names := []string{fmt.Sprintf("sluice-test-a-%d", time.Now().UnixNano()), fmt.Sprintf("sluice-test-b-%d", time.Now().UnixNano())}
	a := newInstanceOn(t, newClusterClient(t, names[0]), names[0], ns, &src)
	b := newInstanceOn(t, newClusterClient(t, names[1]), names[1], ns, &src)
	for i := range 6 {
		k := fmt.Sprint("k", i)
		writer, reader := a, b
		if i%2 == 1 {
			writer, reader = b, a
		}
		if _, err := reader.c.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
		drain(reader.local.deleted)
		if i == 3 {
			if _, _, err := rc.MoveSlot(ctx, ns+":invalidate"); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := rc.MoveSlot(ctx, fmt.Sprintf("%s:v1:%s", ns, k)); err != nil {
			t.Fatal(err)
		}
		v := fmt.Sprint("moved-", i)
		src.write(k, v)
		if err := writer.c.Set(ctx, k, v); err != nil {
			t.Fatalf("Set %s after its slot moved: %v", k, err)
		}
		awaitInvalidated(t, reader, k, v)
	}
}

// awaitInvalidated waits until reader drops its local copy of k, which another instance wrote, then checks that
// reader reads want.
func awaitInvalidated(t *testing.T, reader *instance, k, want string) {
	t.Helper()
	select {
	case got := <-reader.local.deleted:
		if got != k {
			t.Fatalf("instance dropped %q, want %q", got, k)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no invalidation of %s within 5s", k)
	}
	if v, err := reader.c.Get(context.Background(), k); err != nil || v != want {
		t.Fatalf("%s after the other instance's write: %q, %v; want %q", k, v, err, want)
	}
}
