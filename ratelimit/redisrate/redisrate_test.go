package redisrate

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sluice-go/sluice/internal/testsvc"
	"github.com/sluice-go/sluice/ratelimit"
)

// backend is a Redis server the suite runs against: the real one when reachable, and miniredis always.
type backend struct {
	addr string
	mr   *miniredis.Miniredis // nil for the real server
}

var testSeq atomic.Int64

// forEach runs f with each algorithm against the real Redis (skipped, or failed in CI, when unreachable) and
// miniredis.
func forEach(t *testing.T, f func(t *testing.T, b *backend, alg Algorithm)) {
	each := func(t *testing.T, b *backend) {
		for _, alg := range []Algorithm{GCRA, SlidingWindow} {
			t.Run(alg.String(), func(t *testing.T) { f(t, b, alg) })
		}
	}
	t.Run("redis", func(t *testing.T) { each(t, &backend{addr: testsvc.Redis(t)}) })
	t.Run("miniredis", func(t *testing.T) {
		mr := miniredis.RunT(t)
		each(t, &backend{addr: mr.Addr(), mr: mr})
	})
}

// client returns a new client of b, closed at the end of the test.
func (b *backend) client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: b.addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// prefix returns a key prefix no other test or run uses, and deletes its keys at the end of the test.
func (b *backend) prefix(t testing.TB) string {
	p := fmt.Sprintf("sluice-test:%d:%d:", time.Now().UnixNano(), testSeq.Add(1))
	c := b.client(t)
	t.Cleanup(func() {
		keys, _ := c.Keys(context.Background(), p+"*").Result()
		if len(keys) > 0 {
			c.Del(context.Background(), keys...)
		}
	})
	return p
}

func mustNew(t testing.TB, c redis.UniversalClient, r ratelimit.Rate, opts ...Option) *Limiter {
	t.Helper()
	l, err := New(c, r, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLimitBurstThenDeny(t *testing.T) {
	forEach(t, func(t *testing.T, b *backend, alg Algorithm) {
		ctx := context.Background()
		l := mustNew(t, b.client(t), ratelimit.PerHour(5), WithAlgorithm(alg), WithPrefix(b.prefix(t)))
		for i := range 5 {
			d, err := l.Limit(ctx, "k", 1)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Allowed || d.Remaining != 4-i || d.Limit != 5 {
				t.Fatalf("event %d: %+v", i, d)
			}
			if d.ResetAfter <= time.Duration(i)*12*time.Minute || d.ResetAfter > 2*time.Hour {
				t.Fatalf("event %d: ResetAfter %v", i, d.ResetAfter)
			}
		}
		d, err := l.Limit(ctx, "k", 1)
		if err != nil || d.Allowed || d.Remaining != 0 || d.RetryAfter <= 0 || d.RetryAfter > 2*time.Hour {
			t.Fatalf("6th event: %+v %v", d, err)
		}
		if alg == GCRA && (d.RetryAfter < 11*time.Minute || d.RetryAfter > 12*time.Minute) {
			t.Fatalf("GCRA RetryAfter %v, want about one emission interval (12m)", d.RetryAfter)
		}
		if d, _ := l.Limit(ctx, "k", 6); d.Allowed || d.RetryAfter != forever {
			t.Fatalf("n > burst: %+v, want denied forever", d)
		}
		if d, _ := l.Limit(ctx, "other", 0); !d.Allowed || d.Remaining != 5 {
			t.Fatalf("peek on a new key: %+v", d)
		}
		if ok, err := l.Allow(ctx, "other"); !ok || err != nil {
			t.Fatalf("other key: %v %v", ok, err)
		}
		if err := l.Reset(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if d, _ := l.Limit(ctx, "k", 5); !d.Allowed || d.Remaining != 0 {
			t.Fatalf("after Reset: %+v", d)
		}
	})
}

func TestSharedKeyAcrossInstances(t *testing.T) {
	forEach(t, func(t *testing.T, b *backend, alg Algorithm) {
		prefix := b.prefix(t)
		var limiters []*Limiter
		for range 2 { // two processes: two clients, two limiters, one key
			limiters = append(limiters, mustNew(t, b.client(t), ratelimit.PerHour(100), WithAlgorithm(alg),
				WithPrefix(prefix)))
		}
		var admitted atomic.Int64
		var wg sync.WaitGroup
		for g := range 8 {
			l := limiters[g%2]
			wg.Go(func() {
				for range 40 {
					d, err := l.Limit(context.Background(), "shared", 1)
					if err != nil {
						t.Error(err)
						return
					}
					if d.Allowed {
						admitted.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if got := admitted.Load(); got != 100 {
			t.Fatalf("two instances admitted %d of 320, want exactly the quota 100", got)
		}
	})
}

func TestEveryKeyExpires(t *testing.T) {
	forEach(t, func(t *testing.T, b *backend, alg Algorithm) {
		ctx := context.Background()
		c := b.client(t)
		prefix := b.prefix(t)
		l := mustNew(t, c, ratelimit.PerMinute(3), WithAlgorithm(alg), WithPrefix(prefix))
		for i := range 10 {
			key := fmt.Sprintf("user:%d", i%4)
			d, err := l.Limit(ctx, key, 1+i%2)
			if err != nil {
				t.Fatal(err)
			}
			ttl, err := c.PTTL(ctx, l.Key(key)).Result()
			if err != nil {
				t.Fatal(err)
			}
			if ttl <= 0 || ttl > d.ResetAfter+time.Millisecond+(2*time.Minute) || ttl < d.ResetAfter-time.Second {
				t.Fatalf("key %s: PTTL %v, ResetAfter %v", key, ttl, d.ResetAfter)
			}
		}
		keys, err := c.Keys(ctx, prefix+"*").Result()
		if err != nil || len(keys) != 4 {
			t.Fatalf("keys %v %v", keys, err)
		}
		for _, k := range keys {
			if ttl := c.PTTL(ctx, k).Val(); ttl <= 0 {
				t.Errorf("key %s without expiry (%v)", k, ttl)
			}
		}
	})
}

func TestClusterHashTag(t *testing.T) {
	forEach(t, func(t *testing.T, b *backend, alg Algorithm) {
		c := b.client(t)
		prefix := b.prefix(t)
		l := mustNew(t, c, ratelimit.PerMinute(3), WithAlgorithm(alg), WithPrefix(prefix))
		if got, want := l.Key("api:42"), prefix+"{api:42}"; got != want {
			t.Fatalf("Key = %q, want %q", got, want)
		}
		if _, err := l.Limit(context.Background(), "api:42", 1); err != nil {
			t.Fatal(err)
		}
		if n := c.Exists(context.Background(), prefix+"{api:42}").Val(); n != 1 {
			t.Fatalf("state not under the hash-tagged key")
		}
	})
}

func TestScriptReloadAfterFlush(t *testing.T) {
	forEach(t, func(t *testing.T, b *backend, alg Algorithm) {
		ctx := context.Background()
		c := b.client(t)
		l := mustNew(t, c, ratelimit.PerMinute(3), WithAlgorithm(alg), WithPrefix(b.prefix(t)))
		for i := range 3 {
			if err := c.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			d, err := l.Limit(ctx, "k", 1)
			if err != nil || !d.Allowed || d.Remaining != 2-i {
				t.Fatalf("after SCRIPT FLUSH %d: %+v %v", i, d, err)
			}
		}
	})
}

// downClient points at a port where nothing listens, without retries so the test is quick.
func downClient(t *testing.T) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

type fixedLimiter struct{ d ratelimit.Decision }

func (f fixedLimiter) Limit(context.Context, string, int) (ratelimit.Decision, error) {
	return f.d, nil
}

func TestRedisDown(t *testing.T) {
	fallback := fixedLimiter{ratelimit.Decision{Allowed: true, Limit: 7, Remaining: 6}}
	for _, c := range []struct {
		name    string
		opt     Option
		want    ratelimit.Decision
		wantErr bool
	}{
		{"default returns the error", nil, ratelimit.Decision{}, true},
		{"fail open", WithFailOpen(), ratelimit.Decision{Allowed: true, Limit: 10}, false},
		{"fail closed", WithFailClosed(), ratelimit.Decision{Limit: 10, RetryAfter: 6 * time.Second}, false},
		{"fallback", WithFallback(fallback), fallback.d, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var hooked []error
			opts := []Option{WithErrorHook(func(key string, err error) { hooked = append(hooked, err) })}
			if c.opt != nil {
				opts = append(opts, c.opt)
			}
			l := mustNew(t, downClient(t), ratelimit.PerMinute(10), opts...)
			d, err := l.Limit(context.Background(), "k", 1)
			if (err != nil) != c.wantErr || d != c.want {
				t.Fatalf("got %+v, %v; want %+v, error %v", d, err, c.want, c.wantErr)
			}
			if err != nil && !strings.HasPrefix(err.Error(), `redisrate: gcra "k": `) {
				t.Errorf("error %q", err)
			}
			if len(hooked) != 1 {
				t.Errorf("hook called %d times", len(hooked))
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := l.Limit(ctx, "k", 1); err != context.Canceled {
				t.Errorf("cancelled context: %v, want context.Canceled unwrapped", err)
			}
			if len(hooked) != 1 {
				t.Errorf("hook called for the caller's cancellation")
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	l := mustNew(t, c, ratelimit.PerMinute(10), WithTimeout(50*time.Millisecond), WithFailClosed())
	if d, err := l.Limit(context.Background(), "k", 1); err != nil || !d.Allowed {
		t.Fatalf("%+v %v", d, err)
	}
	// A server that stops answering: the timeout turns into a failure, handled by WithFailClosed.
	ln := blackhole(t)
	c2 := redis.NewClient(&redis.Options{Addr: ln, MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c2.Close() })
	l2 := mustNew(t, c2, ratelimit.PerMinute(10), WithTimeout(50*time.Millisecond), WithFailClosed())
	start := time.Now()
	d, err := l2.Limit(context.Background(), "k", 1)
	if err != nil || d.Allowed {
		t.Fatalf("%+v %v, want a fail-closed denial", d, err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("took %v despite WithTimeout(50ms)", el)
	}
}

func TestOptionErrors(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	for _, tc := range []struct {
		r    ratelimit.Rate
		opts []Option
		want string
	}{
		{ratelimit.PerSecond(0), nil, "redisrate: New: ratelimit: Rate: limit must be >= 1, got 0"},
		{ratelimit.PerSecond(1), []Option{WithAlgorithm(7)}, "redisrate: WithAlgorithm: unknown algorithm, got 7"},
		{ratelimit.PerSecond(1), []Option{WithPrefix("a{b}")}, `redisrate: WithPrefix: prefix must not contain '{' or '}', got "a{b}"`},
		{ratelimit.PerSecond(1), []Option{WithBurst(0)}, "redisrate: WithBurst: burst must be >= 1, got 0"},
		{ratelimit.PerSecond(1), []Option{WithTimeout(-1)}, "redisrate: WithTimeout: timeout must be >= 0, got -1ns"},
		{ratelimit.PerSecond(1), []Option{WithFallback(nil)}, "redisrate: WithFallback: limiter must not be nil, got nil"},
		{ratelimit.PerSecond(1), []Option{WithAlgorithm(SlidingWindow), WithBurst(3)},
			"redisrate: WithBurst: burst applies to GCRA only, got 3 with sliding-window"},
		{ratelimit.PerSecond(2_000_000), nil, "redisrate: New: rate must be at most one event per µs per key, got 2000000/1s"},
		{ratelimit.Rate{Limit: 1 << 40, Period: 24 * time.Hour}, []Option{WithAlgorithm(SlidingWindow)},
			"redisrate: New: Limit times Period in ms must be below 2^52, got 1099511627776/24h0m0s"},
	} {
		_, err := New(c, tc.r, tc.opts...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("got %v, want %s", err, tc.want)
		}
	}
	if _, err := New(nil, ratelimit.PerSecond(1)); err == nil {
		t.Error("nil client accepted")
	}
	if l, err := New(c, ratelimit.Rate{Limit: 1_000_000, Period: 24 * time.Hour}, WithAlgorithm(SlidingWindow)); err != nil || l.unit != 1000 {
		t.Errorf("large sliding window: %v, unit %v, want ms resolution", err, l)
	}
}

func TestLimitPanicsOnNegativeN(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	l := mustNew(t, downClient(t), ratelimit.PerSecond(1))
	_, _ = l.Limit(context.Background(), "k", -1)
}

// blackhole returns the address of a server that accepts connections and never answers.
func blackhole(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// TestClusterClient runs a limiter through a Cluster client, which routes EVALSHA by the key's hash slot.
// miniredis answers CLUSTER SLOTS as a one-node cluster.
func TestClusterClient(t *testing.T) {
	mr := miniredis.RunT(t)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{mr.Addr()}})
	t.Cleanup(func() { _ = c.Close() })
	for _, alg := range []Algorithm{GCRA, SlidingWindow} {
		l := mustNew(t, c, ratelimit.PerMinute(2), WithAlgorithm(alg))
		ctx := context.Background()
		for i, want := range []bool{true, true, false} {
			d, err := l.Limit(ctx, "tenant:7", 1)
			if err != nil || d.Allowed != want {
				t.Fatalf("%s call %d: %+v %v", alg, i, d, err)
			}
		}
		if err := l.Reset(ctx, "tenant:7"); err != nil {
			t.Fatal(err)
		}
		if ok, err := l.Allow(ctx, "tenant:7"); !ok || err != nil {
			t.Fatalf("%s after Reset: %v %v", alg, ok, err)
		}
	}
}
