package rediscache_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sluice-go/sluice/cache"
	"github.com/sluice-go/sluice/cache/lru"
	"github.com/sluice-go/sluice/cache/rediscache"
	"github.com/sluice-go/sluice/internal/testsvc"
)

// backend is a Redis to run the suite against: an embedded miniredis, or the real local Redis.
type backend struct {
	addr string
	// breakSubscriptions cuts the subscription connections of the client named name.
	breakSubscriptions func(t *testing.T, name string)
}

// eachBackend runs test on miniredis and on the real Redis (skipped when it is unreachable).
func eachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	t.Run("miniredis", func(t *testing.T) {
		mr := miniredis.RunT(t)
		test(t, backend{addr: mr.Addr(), breakSubscriptions: func(t *testing.T, _ string) {
			mr.Close()
			if err := mr.Restart(); err != nil {
				t.Fatalf("restart miniredis: %v", err)
			}
		}})
	})
	t.Run("redis", func(t *testing.T) {
		addr := testsvc.Redis(t)
		test(t, backend{addr: addr, breakSubscriptions: func(t *testing.T, name string) {
			if killSubscriptions(t, addr, name) == 0 {
				t.Fatalf("no subscription connection named %s on %s", name, addr)
			}
		}})
	})
}

// killSubscriptions cuts the subscription connections of the client named name on the Redis at addr, and
// returns how many it cut.
func killSubscriptions(t *testing.T, addr, name string) int {
	t.Helper()
	admin := newClient(t, addr, "")
	list, err := admin.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, " name="+name+" ") && strings.Contains(line, "cmd=subscribe") {
			id, _, _ := strings.Cut(strings.TrimPrefix(line, "id="), " ")
			if err := admin.Do(context.Background(), "CLIENT", "KILL", "ID", id).Err(); err != nil {
				t.Fatal(err)
			}
			killed++
		}
	}
	return killed
}

func newClient(t *testing.T, addr, name string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ClientName: name, MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

// namespace returns a namespace no other test or run uses, and deletes its keys at the end of the test.
func namespace(t *testing.T, addr string) string {
	ns := fmt.Sprintf("sluice-test:%s:%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		ctx := context.Background()
		keys, _ := c.Keys(ctx, ns+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return ns
}

// notifyLocal is the default local tier, reporting each Delete, so a test can wait for an invalidation.
type notifyLocal struct {
	*lru.Cache[string, cache.Entry[string]]
	deleted chan string
	purged  chan struct{}
}

func newNotifyLocal(t *testing.T) *notifyLocal {
	l, err := lru.New[string, cache.Entry[string]](1000)
	if err != nil {
		t.Fatal(err)
	}
	return &notifyLocal{Cache: l, deleted: make(chan string, 1000), purged: make(chan struct{}, 100)}
}

func (l *notifyLocal) Delete(key string) bool {
	ok := l.Cache.Delete(key)
	select {
	case l.deleted <- key:
	default:
	}
	return ok
}

func (l *notifyLocal) Purge() {
	l.Cache.Purge()
	select {
	case l.purged <- struct{}{}:
	default:
	}
}

// db is the source of truth the instances load from: "db:<key>" unless a test wrote the key.
type db struct {
	mu    sync.Mutex
	rows  map[string]string // guarded by mu
	loads atomic.Int64
}

func (d *db) load(_ context.Context, k string) (string, error) {
	d.loads.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.rows[k]; ok {
		return v, nil
	}
	return "db:" + k, nil
}

func (d *db) write(k, v string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rows == nil {
		d.rows = make(map[string]string)
	}
	d.rows[k] = v
}

// instance is one cache instance with its own Redis clients, as one process of a service would have.
type instance struct {
	c     *cache.Cache[string, string]
	local *notifyLocal
	name  string
}

func newInstance(t *testing.T, addr, ns string, src *db) *instance {
	t.Helper()
	name := fmt.Sprintf("sluice-test-%d", time.Now().UnixNano())
	return newInstanceOn(t, newClient(t, addr, name), name, ns, src)
}

// newInstanceOn is newInstance on client, whose connections are named name.
func newInstanceOn(t *testing.T, client redis.UniversalClient, name, ns string, src *db) *instance {
	t.Helper()
	store, err := rediscache.New(client)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := rediscache.NewInvalidator(client, rediscache.WithChannel(ns+":invalidate"),
		rediscache.WithRetryBackoff(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	local := newNotifyLocal(t)
	c, err := cache.New[string, string](cache.WithRemote(store), cache.WithInvalidation(inv),
		cache.WithLocalTier(local), cache.WithLocal(1000, 0), cache.WithNamespace(ns, 1),
		cache.WithLoader(src.load))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &instance{c: c, local: local, name: name}
}

// drain empties ch of earlier notifications.
func drain[T any](ch chan T) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func TestStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		ns := namespace(t, b.addr)
		s, err := rediscache.New(newClient(t, b.addr, ""))
		if err != nil {
			t.Fatal(err)
		}
		if _, found, err := s.Get(ctx, ns+":a"); found || err != nil {
			t.Fatalf("Get of an absent key: found %v, %v", found, err)
		}
		if err := s.Set(ctx, ns+":a", []byte("1"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.Set(ctx, ns+":c", []byte("3"), 0); err != nil {
			t.Fatal(err)
		}
		if v, found, err := s.Get(ctx, ns+":a"); !found || err != nil || string(v) != "1" {
			t.Fatalf("Get = %q, %v, %v", v, found, err)
		}
		vals, found, err := s.MGet(ctx, []string{ns + ":a", ns + ":b", ns + ":c"})
		if err != nil || !slices.Equal(found, []bool{true, false, true}) || string(vals[0]) != "1" || string(vals[2]) != "3" {
			t.Fatalf("MGet = %q, %v, %v", vals, found, err)
		}
		ttl, err := newClient(t, b.addr, "").PTTL(ctx, ns+":a").Result()
		if err != nil || ttl <= 0 || ttl > time.Minute {
			t.Fatalf("PTTL after Set with a minute = %s, %v", ttl, err)
		}
		if err := s.Delete(ctx, ns+":a"); err != nil {
			t.Fatal(err)
		}
		if _, found, _ := s.Get(ctx, ns+":a"); found {
			t.Fatal("Delete left the key")
		}
		if _, err := rediscache.New(nil); err == nil {
			t.Fatal("New(nil) succeeded")
		}
	})
}

// TestInvalidationAcrossInstances: two instances see each other's writes within a bounded time, and the
// latency is measured.
func TestInvalidationAcrossInstances(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		ns := namespace(t, b.addr)
		var src db
		a, bb := newInstance(t, b.addr, ns, &src), newInstance(t, b.addr, ns, &src)

		const rounds = 200
		lat := make([]time.Duration, 0, rounds)
		for i := range rounds {
			key := fmt.Sprintf("k%d", i%10)
			if _, err := bb.c.Get(ctx, key); err != nil {
				t.Fatal(err)
			}
			drain(bb.local.deleted)
			start := time.Now()
			if i%2 == 0 {
				err := a.c.Delete(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
			} else {
				src.write(key, fmt.Sprintf("set%d", i))
				if err := a.c.Set(ctx, key, fmt.Sprintf("set%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case got := <-bb.local.deleted:
				if got != key {
					t.Fatalf("instance dropped %q, want %q", got, key)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("round %d: no invalidation of %s within 5s", i, key)
			}
			lat = append(lat, time.Since(start))
			want, _ := src.load(ctx, key)
			if v, err := bb.c.Get(ctx, key); err != nil || v != want {
				t.Fatalf("round %d: other instance reads %q, %v after the write; want %q", i, v, err, want)
			}
		}
		slices.Sort(lat)
		p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
		t.Logf("invalidation latency over %d writes (write call start to the other instance's drop): p50 %s, p99 %s, max %s",
			rounds, p50, p99, lat[len(lat)-1])
		if p99 > time.Second {
			t.Fatalf("invalidation p99 %s, want well under 1s", p99)
		}
		if st := a.c.Stats(); st.InvalidationsReceived != 0 || st.InvalidationsSent != rounds {
			t.Fatalf("writer stats %+v: it must not receive its own messages", st)
		}
	})
}

// TestLostSubscriptionFlushes: when the subscription connection breaks, the local tier is dropped, and the
// subscription comes back and delivers again.
func TestLostSubscriptionFlushes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		ns := namespace(t, b.addr)
		var src db
		a, bb := newInstance(t, b.addr, ns, &src), newInstance(t, b.addr, ns, &src)
		if _, err := bb.c.Get(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		drain(bb.local.purged)
		b.breakSubscriptions(t, bb.name)
		deadline := time.After(10 * time.Second)
		for flushes := 0; flushes < 2; flushes++ { // when the loss is seen, and when the subscription is back
			select {
			case <-bb.local.purged:
			case <-deadline:
				t.Fatalf("%d local flushes after the subscription broke, want 2", flushes)
			}
		}
		if bb.local.Len() != 0 {
			t.Fatal("the local tier survived a lost subscription")
		}
		// Delivery works again.
		if _, err := bb.c.Get(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		drain(bb.local.deleted)
		for {
			if err := a.c.Delete(ctx, "k"); err != nil {
				t.Log("Delete while Redis recovers:", err)
			}
			select {
			case <-bb.local.deleted:
				return
			case <-time.After(100 * time.Millisecond):
			case <-deadline:
				t.Fatal("no invalidation delivered after the subscription came back")
			}
		}
	})
}

// TestRedisDown: a cache whose Redis is unreachable serves every read from the loader.
func TestRedisDown(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer client.Close()
	store, err := rediscache.New(client)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := rediscache.NewInvalidator(client, rediscache.WithRetryBackoff(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var loads atomic.Int64
	c, err := cache.New[string, string](cache.WithRemote(store), cache.WithInvalidation(inv),
		cache.WithLoader(func(_ context.Context, k string) (string, error) {
			loads.Add(1)
			return "db:" + k, nil
		}))
	if err != nil {
		t.Fatalf("New with Redis down: %v", err)
	}
	defer c.Close()
	ctx := context.Background()
	for i := range 3 {
		v, err := c.Get(ctx, fmt.Sprint("k", i))
		if err != nil || v != fmt.Sprint("db:k", i) {
			t.Fatalf("Get with Redis down = %q, %v; want the loader's value", v, err)
		}
	}
	m, err := c.GetMany(ctx, []string{"x", "y"})
	if err != nil || len(m) != 2 {
		t.Fatalf("GetMany with Redis down = %v, %v", m, err)
	}
	st := c.Stats()
	if st.Loads != 5 || st.RemoteErrors < 4 {
		t.Fatalf("stats %+v: want 5 loads and the remote errors counted", st)
	}
	if err := c.Delete(ctx, "k0"); err == nil {
		t.Fatal("Delete with Redis down reported no error")
	}
}

func TestGetManyOnRedis(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		ns := namespace(t, b.addr)
		var src db
		a, bb := newInstance(t, b.addr, ns, &src), newInstance(t, b.addr, ns, &src)
		if err := a.c.Set(ctx, "x", "set-x"); err != nil {
			t.Fatal(err)
		}
		m, err := bb.c.GetMany(ctx, []string{"x", "y", "z"})
		if err != nil || m["x"] != "set-x" || m["y"] != "db:y" || m["z"] != "db:z" || src.loads.Load() != 2 {
			t.Fatalf("GetMany = %v, %v with %d loads", m, err, src.loads.Load())
		}
		if st := bb.c.Stats(); st.RemoteHits != 1 || st.RemoteMisses != 2 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestInvalidatorOptions(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	tests := []struct {
		opt  rediscache.Option
		want string
	}{
		{rediscache.WithChannel(""), "rediscache: WithChannel: channel must not be empty"},
		{rediscache.WithPingInterval(0), "rediscache: WithPingInterval: interval must be > 0, got 0s"},
		{rediscache.WithRetryBackoff(-time.Second), "rediscache: WithRetryBackoff: backoff must be > 0, got -1s"},
	}
	for _, tt := range tests {
		if _, err := rediscache.NewInvalidator(client, tt.opt); err == nil || err.Error() != tt.want {
			t.Errorf("error %v, want %q", err, tt.want)
		}
	}
	if _, err := rediscache.NewInvalidator(nil); err == nil {
		t.Error("NewInvalidator(nil) succeeded")
	}
}
