package rediscache_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluice-go/sluice/cache"
	"github.com/sluice-go/sluice/cache/rediscache"
)

// silentRedis returns the address of a server that accepts connections and never answers, as a Redis that has
// stopped responding (or a proxy in front of one that is gone) does.
func silentRedis(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn // guarded by mu
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestRedisStalled: when Redis stops answering, reads fall back to the loader once the remote timeout has
// passed, not the client's much longer read timeout: go-redis applies context deadlines to its reads when the
// client has ContextTimeoutEnabled, as the package doc asks. (Without it, the first Get here takes the whole
// read timeout, and a caller with a shorter deadline gets context.DeadlineExceeded for a key the loader serves.)
func TestRedisStalled(t *testing.T) {
	const readTimeout = 5 * time.Second
	client := redis.NewClient(&redis.Options{Addr: silentRedis(t), MaxRetries: -1, DialTimeout: readTimeout,
		ReadTimeout: readTimeout, WriteTimeout: readTimeout, ContextTimeoutEnabled: true})
	defer client.Close()
	store, err := rediscache.New(client)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New[string, string](cache.WithRemote(store), cache.WithRemoteTimeout(100*time.Millisecond),
		cache.WithLoader(func(_ context.Context, k string) (string, error) { return "db:" + k, nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second) // well under the read timeout
	defer cancel()
	start := time.Now()
	if v, err := c.Get(ctx, "k"); err != nil || v != "db:k" {
		t.Fatalf("Get with Redis silent = %q, %v; want the loader's value", v, err)
	}
	if m, err := c.GetMany(ctx, []string{"x", "y"}); err != nil || m["x"] != "db:x" || m["y"] != "db:y" {
		t.Fatalf("GetMany with Redis silent = %v, %v; want the loader's values", m, err)
	}
	if el := time.Since(start); el >= time.Second {
		t.Fatalf("reads with Redis silent took %s, want about two 100ms remote timeouts", el)
	}
	if st := c.Stats(); st.RemoteErrors != 2 || st.Loads != 3 {
		t.Fatalf("stats %+v: want both remote reads counted as errors, 3 loads", st)
	}
}
