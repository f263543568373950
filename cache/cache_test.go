package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newCache makes a cache and closes it at the end of the test.
func newCache[K comparable, V any](t *testing.T, opts ...Option) *Cache[K, V] {
	t.Helper()
	c, err := New[K, V](opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// countingLoader returns "v:<key>" and counts its calls.
func countingLoader(n *atomic.Int64) func(context.Context, string) (string, error) {
	return func(_ context.Context, k string) (string, error) {
		n.Add(1)
		return "v:" + k, nil
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want string
	}{
		{"capacity", []Option{WithLocal(0, time.Second)}, "cache: WithLocal: capacity must be >= 1, got 0"},
		{"local ttl", []Option{WithLocal(10, -time.Second)}, "cache: WithLocal: ttl must be >= 0, got -1s"},
		{"remote ttl", []Option{WithRemoteTTL(-1)}, "cache: WithRemoteTTL: ttl must be >= 0, got -1ns"},
		{"remote timeout", []Option{WithRemoteTimeout(-1)}, "cache: WithRemoteTimeout: timeout must be >= 0, got -1ns"},
		{"load timeout", []Option{WithLoadTimeout(-1)}, "cache: WithLoadTimeout: timeout must be >= 0, got -1ns"},
		{"codec", []Option{WithCodec(nil)}, "cache: WithCodec: codec must not be nil"},
		{"negative", []Option{WithNegativeTTL(-1)}, "cache: WithNegativeTTL: ttl must be >= 0, got -1ns"},
		{"jitter high", []Option{WithTTLJitter(1)}, "cache: WithTTLJitter: fraction must be in [0, 1), got 1"},
		{"jitter low", []Option{WithTTLJitter(-0.1)}, "cache: WithTTLJitter: fraction must be in [0, 1), got -0.1"},
		{"swr", []Option{WithStaleWhileRevalidate(-1)}, "cache: WithStaleWhileRevalidate: window must be >= 0, got -1ns"},
		{"swr without ttl", []Option{WithLocal(10, 0), WithStaleWhileRevalidate(time.Second)},
			"cache: WithStaleWhileRevalidate: needs a local TTL > 0 (WithLocal), got window 1s"},
		{"version", []Option{WithNamespace("ns", -1)}, "cache: WithNamespace: version must be >= 0, got -1"},
		{"loader type", []Option{WithLoader(func(context.Context, int) (string, error) { return "", nil })},
			"cache: WithLoader: must be func(context.Context, string) (string, error) for this cache, got func(context.Context, int) (string, error)"},
		{"bulk type", []Option{WithBulkLoader(func(context.Context, []string) (map[string]int, error) { return nil, nil })},
			"cache: WithBulkLoader: must be func(context.Context, []string) (map[string]string, error) for this cache, got func(context.Context, []string) (map[string]int, error)"},
		{"key func type", []Option{WithKeyFunc(func(int) string { return "" })},
			"cache: WithKeyFunc: must be func(string) string for this cache, got func(int) string"},
		{"local tier type", []Option{WithLocalTier(newMapLocal[int, Entry[string]]())},
			"cache: WithLocalTier: must be cache.Local[string,github.com/sluice-go/sluice/cache.Entry[string]] for this cache, got *cache.mapLocal[int,github.com/sluice-go/sluice/cache.Entry[string]]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New[string, string](tt.opts...)
			if err == nil {
				c.Close()
				t.Fatal("New succeeded, want an error")
			}
			if err.Error() != tt.want {
				t.Fatalf("error\n got %q\nwant %q", err, tt.want)
			}
		})
	}
	t.Run("invalidation needs a key parser", func(t *testing.T) {
		type key struct{ A, B int }
		_, err := New[key, string](WithInvalidation(newBus()))
		want := "cache: WithInvalidation: keys of type cache.key need WithKeyParser to be invalidated, got none"
		if err == nil || err.Error() != want {
			t.Fatalf("error %v, want %q", err, want)
		}
	})
}

func TestGetThroughTiers(t *testing.T) {
	synctest.Test(t, testGetThroughTiers)
}

func testGetThroughTiers(t *testing.T) {
	var loads atomic.Int64
	remote := newMemRemote()
	c := newCache[string, string](t, WithRemote(remote), WithLoader(countingLoader(&loads)), WithNamespace("users", 2))
	ctx := context.Background()

	v, err := c.Get(ctx, "a")
	if err != nil || v != "v:a" {
		t.Fatalf("Get = %q, %v; want v:a", v, err)
	}
	synctest.Wait() // the remote write follows the release of the waiters
	if b, ok := remote.raw("users:v2:a"); !ok || string(b) != `"v:a"` {
		t.Fatalf("remote holds %q, %v; want the JSON of v:a under users:v2:a", b, ok)
	}
	v, err = c.Get(ctx, "a")
	if err != nil || v != "v:a" || loads.Load() != 1 || remote.gets.Load() != 1 {
		t.Fatalf("second Get = %q, %v with %d loads and %d remote gets; want a local hit", v, err, loads.Load(), remote.gets.Load())
	}

	// A second instance on the same remote reads the remote tier, not the loader.
	c2 := newCache[string, string](t, WithRemote(remote), WithLoader(countingLoader(&loads)), WithNamespace("users", 2))
	if v, err := c2.Get(ctx, "a"); err != nil || v != "v:a" || loads.Load() != 1 {
		t.Fatalf("other instance Get = %q, %v with %d loads; want a remote hit", v, err, loads.Load())
	}
	st := c.Stats()
	if st.LocalHits != 1 || st.LocalMisses != 1 || st.RemoteMisses != 1 || st.Loads != 1 {
		t.Fatalf("stats %+v", st)
	}
	if st2 := c2.Stats(); st2.RemoteHits != 1 || st2.Loads != 0 {
		t.Fatalf("other instance stats %+v", st2)
	}
}

func TestNoLoader(t *testing.T) {
	remote := newMemRemote()
	c := newCache[string, int](t, WithRemote(remote))
	ctx := context.Background()
	if _, err := c.Get(ctx, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing key without a loader: %v, want ErrNotFound", err)
	}
	if err := c.Set(ctx, "x", 7); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "x"); err != nil || v != 7 {
		t.Fatalf("Get after Set = %d, %v", v, err)
	}
	remote.fail.Store(true)
	if _, err := c.Get(ctx, "y"); !errors.Is(err, errRemoteDown) {
		t.Fatalf("Get with the remote down and no loader: %v, want the remote's error", err)
	}
}

func TestStampedeOneLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var loads atomic.Int64
		release := make(chan struct{})
		remote := newMemRemote()
		c := newCache[string, string](t, WithRemote(remote), WithLoader(func(ctx context.Context, k string) (string, error) {
			loads.Add(1)
			<-release
			return "v:" + k, nil
		}))
		const n = 1000
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				v, err := c.Get(context.Background(), "hot")
				if err == nil && v != "v:hot" {
					err = fmt.Errorf("got %q", v)
				}
				if err != nil {
					errs <- err
				}
			})
		}
		synctest.Wait() // every goroutine is waiting for the one load
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if got := loads.Load(); got != 1 {
			t.Fatalf("%d goroutines missing one key made %d loads, want 1", n, got)
		}
		if got := remote.gets.Load(); got != 1 {
			t.Fatalf("%d goroutines missing one key made %d remote reads, want 1", n, got)
		}
	})
}

type ctxKey struct{}

func TestWaiterGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var loadCtx context.Context
		c := newCache[string, string](t, WithLoader(func(ctx context.Context, k string) (string, error) {
			loadCtx = ctx
			<-release
			return "v:" + k, nil
		}))
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "traced"))
		first := make(chan error, 1)
		go func() {
			_, err := c.Get(ctx, "k")
			first <- err
		}()
		synctest.Wait() // the first caller starts the load
		second := make(chan string, 1)
		go func() {
			v, _ := c.Get(context.Background(), "k")
			second <- v
		}()
		synctest.Wait()
		cancel()
		if err := <-first; err != context.Canceled {
			t.Fatalf("cancelled waiter got %v, want context.Canceled at once", err)
		}
		if loadCtx.Err() != nil {
			t.Fatal("the load was cancelled with its first caller")
		}
		if loadCtx.Value(ctxKey{}) != "traced" {
			t.Fatal("the load lost its caller's context values")
		}
		close(release)
		if v := <-second; v != "v:k" {
			t.Fatalf("other waiter got %q", v)
		}
		if _, err := c.Get(ctx, "k"); err != context.Canceled {
			t.Fatalf("Get on a done context: %v, want context.Canceled before the fast path", err)
		}
	})
}

func TestLoadTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCache[string, string](t, WithLoadTimeout(time.Second), WithLoader(func(ctx context.Context, k string) (string, error) {
			<-ctx.Done()
			return "", ctx.Err()
		}))
		start := time.Now()
		if _, err := c.Get(context.Background(), "k"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Get with a hung loader: %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("hung load ended after %s, want the 1s load timeout", d)
		}
	})
}

func TestLoadErrorNotCached(t *testing.T) {
	var calls atomic.Int64
	boom := errors.New("db down")
	c := newCache[string, string](t, WithNegativeTTL(time.Minute), WithLoader(func(context.Context, string) (string, error) {
		if calls.Add(1) == 1 {
			return "", boom
		}
		return "ok", nil
	}))
	ctx := context.Background()
	if _, err := c.Get(ctx, "k"); !errors.Is(err, boom) {
		t.Fatalf("first Get: %v, want the loader's error", err)
	}
	if v, err := c.Get(ctx, "k"); err != nil || v != "ok" {
		t.Fatalf("second Get = %q, %v; a load error must not be cached", v, err)
	}
	if st := c.Stats(); st.LoadErrors != 1 || st.Loads != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNegativeCaching(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var loads atomic.Int64
		loader := func(context.Context, string) (string, error) {
			loads.Add(1)
			return "", fmt.Errorf("no row: %w", ErrNotFound)
		}
		remote := newMemRemote()
		c := newCache[string, string](t, WithRemote(remote), WithLoader(loader), WithNegativeTTL(10*time.Second))
		ctx := context.Background()
		for range 5 {
			if _, err := c.Get(ctx, "ghost"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
			}
		}
		if loads.Load() != 1 {
			t.Fatalf("%d loads for 5 reads of a missing key, want 1", loads.Load())
		}
		synctest.Wait() // the remote write follows the release of the waiters
		if b, ok := remote.raw("ghost"); !ok || string(b) != string(notFoundMarker) {
			t.Fatal("the remote tier does not hold the negative entry")
		}
		if st := c.Stats(); st.NegativeHits != 4 {
			t.Fatalf("NegativeHits = %d, want 4", st.NegativeHits)
		}
		// Another instance sees the negative entry in the remote tier.
		c2 := newCache[string, string](t, WithRemote(remote), WithLoader(loader), WithNegativeTTL(10*time.Second))
		if _, err := c2.Get(ctx, "ghost"); !errors.Is(err, ErrNotFound) || loads.Load() != 1 {
			t.Fatalf("other instance: %v with %d loads; want ErrNotFound from the remote tier", err, loads.Load())
		}
		time.Sleep(11 * time.Second)
		if _, err := c.Get(ctx, "ghost"); !errors.Is(err, ErrNotFound) || loads.Load() != 2 {
			t.Fatalf("after the negative TTL: %v with %d loads; want a new load", err, loads.Load())
		}
	})
	t.Run("off", func(t *testing.T) {
		var loads atomic.Int64
		c := newCache[string, string](t, WithLoader(func(context.Context, string) (string, error) {
			loads.Add(1)
			return "", ErrNotFound
		}))
		for range 3 {
			if _, err := c.Get(context.Background(), "ghost"); !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
		}
		if loads.Load() != 3 {
			t.Fatalf("%d loads without negative caching, want 3", loads.Load())
		}
	})
}

func TestTTLJitterBounds(t *testing.T) {
	const ttl = 10 * time.Second
	const frac = 0.2
	c := newCache[string, string](t, WithTTLJitter(frac))
	lo, hi := ttl, time.Duration(0)
	for range 10_000 {
		d := c.jittered(ttl)
		if d > ttl || d < time.Duration(float64(ttl)*(1-frac)) {
			t.Fatalf("jittered TTL %s outside [%s, %s]", d, time.Duration(float64(ttl)*(1-frac)), ttl)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if hi-lo < time.Duration(float64(ttl)*frac*0.9) {
		t.Fatalf("jittered TTLs span only [%s, %s]; want most of the 20%% range", lo, hi)
	}
	if c.jittered(0) != 0 {
		t.Fatal("jitter must leave 'no expiry' alone")
	}

	// Both tiers: the remote TTL of a loaded value and the local expiry.
	synctest.Test(t, func(t *testing.T) {
		remote := newMemRemote()
		c := newCache[int, int](t, WithRemote(remote), WithLocal(100, ttl), WithRemoteTTL(time.Hour), WithTTLJitter(frac),
			WithLoader(func(_ context.Context, k int) (int, error) { return k, nil }))
		ctx := context.Background()
		for k := range 50 {
			c.Get(ctx, k)
			remote.mu.Lock()
			got := remote.lastTTL
			remote.mu.Unlock()
			if got > time.Hour || got < time.Duration(float64(time.Hour)*(1-frac)) {
				t.Fatalf("remote TTL %s outside the jitter bounds", got)
			}
		}
		time.Sleep(time.Duration(float64(ttl)*(1-frac)) - time.Millisecond)
		before := remote.gets.Load()
		for k := range 50 {
			c.Get(ctx, k)
		}
		if remote.gets.Load() != before {
			t.Fatal("a local entry expired before its shortest jittered TTL")
		}
		time.Sleep(time.Duration(float64(ttl)*frac) + 2*time.Millisecond)
		for k := range 50 {
			c.Get(ctx, k)
		}
		if remote.gets.Load() != before+50 {
			t.Fatalf("%d of 50 local entries expired by their TTL, want all", remote.gets.Load()-before)
		}
	})
}

func TestTTLExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var loads atomic.Int64
		remote := newMemRemote()
		c := newCache[string, string](t, WithRemote(remote), WithLocal(10, time.Minute), WithRemoteTTL(time.Hour),
			WithLoader(countingLoader(&loads)))
		ctx := context.Background()
		c.Get(ctx, "k")
		time.Sleep(time.Minute - time.Nanosecond)
		c.Get(ctx, "k")
		if remote.gets.Load() != 1 {
			t.Fatal("local entry expired early")
		}
		time.Sleep(time.Nanosecond)
		c.Get(ctx, "k")
		if remote.gets.Load() != 2 || loads.Load() != 1 {
			t.Fatalf("after the local TTL: %d remote reads, %d loads; want the remote tier to answer", remote.gets.Load(), loads.Load())
		}
		time.Sleep(time.Hour)
		c.Get(ctx, "k")
		if loads.Load() != 2 {
			t.Fatalf("after the remote TTL: %d loads, want 2", loads.Load())
		}
	})
}

func TestStaleWhileRevalidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var loads atomic.Int64
		version := atomic.Int64{}
		version.Store(1)
		gate := make(chan struct{})
		c := newCache[string, string](t, WithLocal(10, time.Minute), WithStaleWhileRevalidate(30*time.Second),
			WithLoader(func(_ context.Context, k string) (string, error) {
				if loads.Add(1) > 1 {
					<-gate
				}
				return fmt.Sprintf("%s@%d", k, version.Load()), nil
			}))
		ctx := context.Background()
		if v, _ := c.Get(ctx, "k"); v != "k@1" {
			t.Fatalf("first Get = %q", v)
		}
		time.Sleep(time.Minute + time.Second) // stale, inside the window
		version.Store(2)
		for range 100 {
			if v, err := c.Get(ctx, "k"); err != nil || v != "k@1" {
				t.Fatalf("stale Get = %q, %v; want the stale value at once", v, err)
			}
		}
		synctest.Wait()
		if loads.Load() != 2 {
			t.Fatalf("%d loads after 100 stale reads, want exactly one refresh", loads.Load())
		}
		close(gate)
		synctest.Wait()
		if v, _ := c.Get(ctx, "k"); v != "k@2" {
			t.Fatalf("after the refresh Get = %q, want k@2", v)
		}
		st := c.Stats()
		if st.StaleServed != 100 || st.Refreshes != 1 {
			t.Fatalf("stats %+v", st)
		}
		// Past the stale window the entry is gone and Get waits for a load.
		time.Sleep(time.Minute + 31*time.Second)
		version.Store(3)
		if v, _ := c.Get(ctx, "k"); v != "k@3" {
			t.Fatalf("past the window Get = %q, want a fresh load", v)
		}
	})
}

func TestRemoteDownFallsBackToLoader(t *testing.T) {
	t.Run("errors", func(t *testing.T) {
		var loads atomic.Int64
		remote := newMemRemote()
		remote.fail.Store(true)
		c := newCache[string, string](t, WithRemote(remote), WithLoader(countingLoader(&loads)))
		v, err := c.Get(context.Background(), "k")
		if err != nil || v != "v:k" {
			t.Fatalf("Get with the remote down = %q, %v; want the loader's value", v, err)
		}
		if st := c.Stats(); st.RemoteErrors != 1 || st.Loads != 1 { // no write-back after a failed read
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("slow", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var loads atomic.Int64
			remote := newMemRemote()
			remote.stall.Store(true)
			c := newCache[string, string](t, WithRemote(remote), WithRemoteTimeout(50*time.Millisecond),
				WithLoader(countingLoader(&loads)))
			start := time.Now()
			v, err := c.Get(context.Background(), "k")
			if err != nil || v != "v:k" {
				t.Fatalf("Get with a stalled remote = %q, %v", v, err)
			}
			if d := time.Since(start); d != 50*time.Millisecond {
				t.Fatalf("Get took %s with a stalled remote, want the 50ms remote timeout", d)
			}
		})
	})
}

func TestSetAndDelete(t *testing.T) {
	var loads atomic.Int64
	remote := newMemRemote()
	c := newCache[string, string](t, WithRemote(remote), WithLoader(countingLoader(&loads)))
	ctx := context.Background()
	if err := c.Set(ctx, "k", "written"); err != nil {
		t.Fatal(err)
	}
	if b, _ := remote.raw("k"); string(b) != `"written"` {
		t.Fatalf("remote holds %q after Set", b)
	}
	if v, _ := c.Get(ctx, "k"); v != "written" || remote.gets.Load() != 0 {
		t.Fatalf("Get after Set = %q with %d remote reads; want a local hit", v, remote.gets.Load())
	}
	if err := c.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, ok := remote.raw("k"); ok {
		t.Fatal("Delete left the remote entry")
	}
	if v, _ := c.Get(ctx, "k"); v != "v:k" || loads.Load() != 1 {
		t.Fatalf("Get after Delete = %q with %d loads; want a load", v, loads.Load())
	}

	remote.fail.Store(true)
	if err := c.Set(ctx, "k", "lost"); !errors.Is(err, errRemoteDown) {
		t.Fatalf("Set with the remote down: %v", err)
	}
	remote.fail.Store(false)
	if v, _ := c.Get(ctx, "k"); v == "lost" {
		t.Fatal("a failed Set left its value in the local tier")
	}
}

// startGatedLoad makes a cache whose loader returns "old" once gate is closed, and starts a Get of "k" whose
// result goes to got. It returns when the load waits in the loader. Call it in a synctest bubble.
func startGatedLoad(t *testing.T, opts ...Option) (c *Cache[string, string], gate chan struct{}, got chan string) {
	gate, got = make(chan struct{}), make(chan string, 1)
	c = newCache[string, string](t, append(opts, WithLoader(func(context.Context, string) (string, error) {
		<-gate
		return "old", nil
	}))...)
	go func() {
		v, _ := c.Get(context.Background(), "k")
		got <- v
	}()
	synctest.Wait()
	return c, gate, got
}

// A write during a load wins: the load's older value must not land in the local tier after it.
func TestWriteDuringLoadWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, gate, got := startGatedLoad(t)
		ctx := context.Background()
		if err := c.Set(ctx, "k", "new"); err != nil {
			t.Fatal(err)
		}
		close(gate)
		if v := <-got; v != "old" {
			t.Fatalf("the waiter of the load got %q, want the load's value", v)
		}
		synctest.Wait()
		if v, _ := c.Get(ctx, "k"); v != "new" {
			t.Fatalf("Get after the racing load = %q, want the written value", v)
		}
	})
}

// pausingRemote pauses the first Set or Delete once it has written, until resume is closed, so that a load can
// finish in the middle of a write.
type pausingRemote struct {
	*memRemote
	armed          atomic.Bool
	paused, resume chan struct{}
}

func (r *pausingRemote) pause() {
	if r.armed.CompareAndSwap(true, false) {
		close(r.paused)
		<-r.resume
	}
}

func (r *pausingRemote) Set(ctx context.Context, key string, b []byte, ttl time.Duration) error {
	err := r.memRemote.Set(ctx, key, b, ttl)
	r.pause()
	return err
}

func (r *pausingRemote) Delete(ctx context.Context, key string) error {
	err := r.memRemote.Delete(ctx, key)
	r.pause()
	return err
}

// A load that read the source before a write and finishes while the write is under way must not leave its older
// value in the remote tier, where other instances would read it for the remote TTL.
func TestLoadFinishingDuringWriteLeavesNoStaleRemote(t *testing.T) {
	for _, op := range []string{"Set", "Delete"} {
		t.Run(op, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				remote := &pausingRemote{memRemote: newMemRemote(), paused: make(chan struct{}), resume: make(chan struct{})}
				c, gate, got := startGatedLoad(t, WithRemote(remote))
				ctx := context.Background()
				remote.armed.Store(true)
				done := make(chan error, 1)
				go func() {
					if op == "Set" {
						done <- c.Set(ctx, "k", "new")
					} else {
						done <- c.Delete(ctx, "k")
					}
				}()
				<-remote.paused // the write is in the remote tier; the writer has not returned
				close(gate)
				<-got
				synctest.Wait() // the load has finished
				close(remote.resume)
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				b, ok := remote.raw("k")
				if op == "Set" && string(b) != `"new"` || op == "Delete" && ok {
					t.Fatalf("remote holds %q (present %v) after %s raced with a load of the old value", b, ok, op)
				}
			})
		})
	}
}

func TestGetMany(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		remote := newMemRemote()
		var bulkCalls [][]string
		var mu sync.Mutex
		gate := make(chan struct{})
		var singleLoads atomic.Int64
		c := newCache[string, string](t, WithRemote(remote), WithNegativeTTL(time.Minute),
			WithLoader(func(_ context.Context, k string) (string, error) {
				singleLoads.Add(1)
				<-gate
				return "v:" + k, nil
			}),
			WithBulkLoader(func(_ context.Context, ks []string) (map[string]string, error) {
				mu.Lock()
				bulkCalls = append(bulkCalls, ks)
				mu.Unlock()
				m := map[string]string{}
				for _, k := range ks {
					if k != "missing" {
						m[k] = "v:" + k
					}
				}
				return m, nil
			}))
		ctx := context.Background()
		if err := c.Set(ctx, "local", "v:local"); err != nil {
			t.Fatal(err)
		}
		remote.Set(ctx, "remote", []byte(`"v:remote"`), 0)
		// "inflight" is being loaded by a Get: GetMany must share that load, not load it again.
		go c.Get(ctx, "inflight")
		synctest.Wait()
		done := make(chan map[string]string, 1)
		go func() {
			m, err := c.GetMany(ctx, []string{"local", "remote", "inflight", "a", "b", "missing", "a"})
			if err != nil {
				t.Error(err)
			}
			done <- m
		}()
		synctest.Wait()
		close(gate)
		m := <-done
		want := map[string]string{"local": "v:local", "remote": "v:remote", "inflight": "v:inflight", "a": "v:a", "b": "v:b"}
		if fmt.Sprint(m) != fmt.Sprint(want) {
			t.Fatalf("GetMany = %v, want %v", m, want)
		}
		if remote.mgets.Load() != 1 {
			t.Fatalf("%d remote multi-gets, want 1", remote.mgets.Load())
		}
		if fmt.Sprint(bulkCalls) != "[[a b missing]]" {
			t.Fatalf("bulk loader calls %v, want one call for [a b missing]", bulkCalls)
		}
		if singleLoads.Load() != 1 {
			t.Fatalf("%d single loads, want only the Get's", singleLoads.Load())
		}
		// Everything is cached now, including "missing" as not found.
		m, err := c.GetMany(ctx, []string{"a", "b", "missing", "remote"})
		if err != nil || len(m) != 3 || remote.mgets.Load() != 1 {
			t.Fatalf("second GetMany = %v, %v with %d multi-gets; want local hits only", m, err, remote.mgets.Load())
		}
	})
	t.Run("per-key loader", func(t *testing.T) {
		var loads atomic.Int64
		c := newCache[string, string](t, WithLoader(countingLoader(&loads)))
		m, err := c.GetMany(context.Background(), []string{"x", "y", "z"})
		if err != nil || len(m) != 3 || m["y"] != "v:y" || loads.Load() != 3 {
			t.Fatalf("GetMany = %v, %v with %d loads", m, err, loads.Load())
		}
	})
	t.Run("errors", func(t *testing.T) {
		boom := errors.New("db down")
		remote := newMemRemote()
		remote.fail.Store(true)
		c := newCache[string, string](t, WithRemote(remote), WithBulkLoader(func(context.Context, []string) (map[string]string, error) {
			return nil, boom
		}))
		if _, err := c.GetMany(context.Background(), []string{"x", "y"}); !errors.Is(err, boom) {
			t.Fatalf("GetMany with a failing bulk loader: %v", err)
		}
		if st := c.Stats(); st.LoadErrors != 1 || st.RemoteErrors != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestCloseWaitsForLoads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cancelled atomic.Bool
		c, err := New[string, string](WithLoader(func(ctx context.Context, k string) (string, error) {
			<-ctx.Done()
			cancelled.Store(true)
			return "", ctx.Err()
		}))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go c.Get(ctx, "k")
		synctest.Wait()
		cancel() // the caller leaves; the load goes on
		synctest.Wait()
		if cancelled.Load() {
			t.Fatal("the load stopped with its caller")
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if !cancelled.Load() {
			t.Fatal("Close returned before the load it cancelled")
		}
		if _, err := c.Get(context.Background(), "other"); !errors.Is(err, ErrClosed) {
			t.Fatalf("Get after Close: %v, want ErrClosed", err)
		}
		if err := c.Set(context.Background(), "k", "v"); !errors.Is(err, ErrClosed) {
			t.Fatalf("Set after Close: %v, want ErrClosed", err)
		}
		if err := c.Delete(context.Background(), "k"); !errors.Is(err, ErrClosed) {
			t.Fatalf("Delete after Close: %v, want ErrClosed", err)
		}
		if _, err := c.GetMany(context.Background(), []string{"k"}); !errors.Is(err, ErrClosed) {
			t.Fatalf("GetMany after Close: %v, want ErrClosed", err)
		}
		if err := c.Close(); err != nil {
			t.Fatal("second Close:", err)
		}
	})
}

func TestPluggedLocalTier(t *testing.T) {
	var loads atomic.Int64
	local := newMapLocal[string, Entry[string]]()
	c := newCache[string, string](t, WithLocalTier(local), WithLoader(countingLoader(&loads)))
	ctx := context.Background()
	c.Get(ctx, "k")
	c.Get(ctx, "k")
	if _, ok := local.Get("k"); !ok || loads.Load() != 1 {
		t.Fatal("the plugged tier was not used")
	}
	if st := c.Stats(); st.LocalHits != 1 || st.LocalMisses != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestInvalidationBetweenInstances(t *testing.T) {
	var loads atomic.Int64
	remote, b := newMemRemote(), newBus()
	opts := []Option{WithRemote(remote), WithInvalidation(b), WithLoader(countingLoader(&loads)), WithLocal(100, 0)}
	c1 := newCache[string, string](t, opts...)
	c2 := newCache[string, string](t, opts...)
	other := newCache[string, string](t, append(opts, WithNamespace("other", 0))...)
	ctx := context.Background()
	c1.Get(ctx, "k")
	c2.Get(ctx, "k")
	other.Get(ctx, "k")
	if err := c1.Set(ctx, "k", "new"); err != nil {
		t.Fatal(err)
	}
	if v, _ := c2.Get(ctx, "k"); v != "new" {
		t.Fatalf("other instance reads %q after Set, want the new value", v)
	}
	if err := c2.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if v, _ := c1.Get(ctx, "k"); v != "v:k" {
		t.Fatalf("instance reads %q after another's Delete, want a reload", v)
	}
	if v, _ := other.Get(ctx, "k"); v != "v:k" || other.Stats().InvalidationsReceived != 0 {
		t.Fatal("an invalidation crossed namespaces")
	}
	st := c1.Stats()
	if st.InvalidationsSent != 1 || st.InvalidationsReceived != 1 {
		t.Fatalf("stats %+v", st)
	}
	b.flushAll()
	before := remote.gets.Load()
	c1.Get(ctx, "k")
	if remote.gets.Load() != before+1 || c1.Stats().LocalFlushes != 1 {
		t.Fatal("InvalidateAll did not flush the local tier")
	}
}

func TestKeys(t *testing.T) {
	type userID int64
	type name string
	if got := defaultKeyFunc[userID]()(-42); got != "-42" {
		t.Fatalf("int key formatted %q", got)
	}
	if got := defaultKeyFunc[uint8]()(200); got != "200" {
		t.Fatalf("uint key formatted %q", got)
	}
	if got := defaultKeyFunc[name]()("bob"); got != "bob" {
		t.Fatalf("string key formatted %q", got)
	}
	if got := defaultKeyFunc[[2]int]()([2]int{1, 2}); got != "[1 2]" {
		t.Fatalf("array key formatted %q", got)
	}
	if k, err := defaultKeyParser[userID]()("-42"); err != nil || k != -42 {
		t.Fatalf("parsed %v, %v", k, err)
	}
	if k, err := defaultKeyParser[uint16]()("65535"); err != nil || k != 65535 {
		t.Fatalf("parsed %v, %v", k, err)
	}
	if _, err := defaultKeyParser[int8]()("300"); err == nil {
		t.Fatal("parsed an out-of-range int8")
	}
	if k, err := defaultKeyParser[name]()("bob"); err != nil || k != "bob" {
		t.Fatalf("parsed %v, %v", k, err)
	}
	if defaultKeyParser[[2]int]() != nil {
		t.Fatal("a parser for arrays")
	}

	remote := newMemRemote()
	c := newCache[userID, string](t, WithRemote(remote), WithNamespace("u", 0),
		WithKeyFunc(func(id userID) string { return fmt.Sprintf("id-%d", id) }))
	c.Set(context.Background(), 7, "x")
	if _, ok := remote.raw("u:id-7"); !ok {
		t.Fatal("WithKeyFunc and WithNamespace not applied to the remote key")
	}
}

func TestGetHitAllocs(t *testing.T) {
	c := newCache[int, string](t)
	ctx := context.Background()
	c.Set(ctx, 1, "one")
	if n := testing.AllocsPerRun(1000, func() { c.Get(ctx, 1) }); n != 0 {
		t.Fatalf("a local hit allocates %v times, want 0", n)
	}
}

func TestGetManyWaiterGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		c := newCache[string, string](t, WithBulkLoader(func(_ context.Context, ks []string) (map[string]string, error) {
			<-gate
			return map[string]string{"a": "A"}, nil
		}))
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := c.GetMany(ctx, []string{"a"})
			errc <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-errc; err != context.Canceled {
			t.Fatalf("GetMany on a cancelled context: %v, want context.Canceled", err)
		}
		close(gate)
		synctest.Wait()
		if v, err := c.Get(context.Background(), "a"); err != nil || v != "A" {
			t.Fatalf("the abandoned bulk load did not fill the cache: %q, %v", v, err)
		}
	})
}

func TestStaleServedWhileRefreshFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fail atomic.Bool
		c := newCache[string, string](t, WithLocal(10, time.Minute), WithStaleWhileRevalidate(time.Minute),
			WithLoader(func(context.Context, string) (string, error) {
				if fail.Load() {
					return "", errors.New("db down")
				}
				return "v", nil
			}))
		ctx := context.Background()
		c.Get(ctx, "k")
		fail.Store(true)
		time.Sleep(time.Minute + time.Second)
		for range 3 {
			if v, err := c.Get(ctx, "k"); err != nil || v != "v" {
				t.Fatalf("stale Get while the source is down = %q, %v", v, err)
			}
			synctest.Wait()
		}
		if st := c.Stats(); st.LoadErrors != 3 || st.StaleServed != 3 {
			t.Fatalf("stats %+v: want each stale read to retry the refresh once", st)
		}
		time.Sleep(time.Minute)
		if _, err := c.Get(ctx, "k"); err == nil {
			t.Fatal("a value past its stale window was served")
		}
	})
}

func TestInjectedClock(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
	}
	var loads atomic.Int64
	c := newCache[string, string](t, WithClock(clock), WithLocal(10, time.Minute), WithLoader(countingLoader(&loads)))
	ctx := context.Background()
	c.Get(ctx, "k")
	advance(59 * time.Second)
	c.Get(ctx, "k")
	if loads.Load() != 1 {
		t.Fatal("entry expired before its TTL on the injected clock")
	}
	advance(time.Second)
	c.Get(ctx, "k")
	if loads.Load() != 2 {
		t.Fatal("entry outlived its TTL on the injected clock")
	}
}

// TestConcurrentWritesConverge runs reads, writes and deletes on two instances at once (a race detector
// workout), then checks that a final write is what both instances read.
func TestConcurrentWritesConverge(t *testing.T) {
	remote, b := newMemRemote(), newBus()
	var src sync.Map
	loader := func(_ context.Context, k int) (string, error) {
		if v, ok := src.Load(k); ok {
			return v.(string), nil
		}
		return "", ErrNotFound
	}
	opts := []Option{WithRemote(remote), WithInvalidation(b), WithLoader(loader), WithLocal(64, time.Minute),
		WithNegativeTTL(time.Second), WithTTLJitter(0.1), WithStaleWhileRevalidate(time.Second)}
	insts := []*Cache[int, string]{newCache[int, string](t, opts...), newCache[int, string](t, opts...)}
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				c, k := insts[(g+i)%2], (g*31+i)%40
				switch i % 7 {
				case 0:
					v := fmt.Sprint(g, "-", i)
					src.Store(k, v)
					if err := c.Set(ctx, k, v); err != nil {
						t.Error(err)
						return
					}
				case 1:
					src.Delete(k)
					if err := c.Delete(ctx, k); err != nil {
						t.Error(err)
						return
					}
				case 2:
					c.GetMany(ctx, []int{k, k + 1, k + 2})
				default:
					if _, err := c.Get(ctx, k); err != nil && !errors.Is(err, ErrNotFound) {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for k := range 40 {
		want := fmt.Sprint("final-", k)
		src.Store(k, want)
		if err := insts[k%2].Set(ctx, k, want); err != nil {
			t.Fatal(err)
		}
		for i, c := range insts {
			if v, err := c.Get(ctx, k); err != nil || v != want {
				t.Fatalf("instance %d reads key %d as %q, %v after the final write, want %q", i, k, v, err, want)
			}
		}
	}
}
