package cache

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// These tests are about loads that end without returning: a loader (or a Remote) that panics or calls
// runtime.Goexit, as t.FailNow does. Such a load must answer its waiters with ErrLoadAborted and free its key.
// Waiters use a context with a deadline far beyond anything the test needs, so that a load left hanging
// shows as context.DeadlineExceeded instead of a deadlocked bubble.

// waitCtx is the context of a waiter that would otherwise wait forever for an unanswered load.
func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	t.Cleanup(cancel)
	return ctx
}

func TestLoaderGoexit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var loads atomic.Int64
		gate := make(chan struct{})
		c := newCache[string, string](t, WithLoader(func(_ context.Context, k string) (string, error) {
			if loads.Add(1) == 1 {
				<-gate
				runtime.Goexit()
			}
			return "v:" + k, nil
		}))
		errs := make(chan error, 2)
		for range 2 { // the caller that started the load, and one that joined it
			go func() {
				_, err := c.Get(waitCtx(t), "k")
				errs <- err
			}()
			synctest.Wait()
		}
		close(gate)
		for range 2 {
			if err := <-errs; !errors.Is(err, ErrLoadAborted) || !strings.Contains(err.Error(), "runtime.Goexit") {
				t.Fatalf("Get whose loader called runtime.Goexit: %v, want ErrLoadAborted at once", err)
			}
		}
		if v, err := c.Get(waitCtx(t), "k"); err != nil || v != "v:k" {
			t.Fatalf("Get after the aborted load = %q, %v; the key must load again", v, err)
		}
		if st := c.Stats(); st.Loads != 2 || st.LoadErrors != 1 {
			t.Fatalf("stats %+v: want 2 loads, 1 load error", st)
		}
	})
}

func TestLoaderPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var loads atomic.Int64
		c := newCache[string, string](t, WithLoader(func(_ context.Context, k string) (string, error) {
			if loads.Add(1) == 1 {
				panic("bad row")
			}
			return "v:" + k, nil
		}))
		_, err := c.Get(waitCtx(t), "k")
		if !errors.Is(err, ErrLoadAborted) || !strings.Contains(err.Error(), "cache: load aborted: loader panicked: bad row") {
			t.Fatalf("Get with a panicking loader: %v, want ErrLoadAborted with the panic value", err)
		}
		if !strings.Contains(err.Error(), "TestLoaderPanic") {
			t.Fatalf("the error of a panicking loader has no stack of the panic:\n%v", err)
		}
		if v, err := c.Get(waitCtx(t), "k"); err != nil || v != "v:k" {
			t.Fatalf("Get after the panic = %q, %v; the key must load again", v, err)
		}
		if st := c.Stats(); st.Loads != 2 || st.LoadErrors != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("not found", func(t *testing.T) {
		// A panic whose value wraps ErrNotFound is still a failed load, not a negative answer to cache.
		c := newCache[string, string](t, WithNegativeTTL(time.Minute), WithLoader(func(context.Context, string) (string, error) {
			panic(ErrNotFound)
		}))
		for range 2 {
			if _, err := c.Get(context.Background(), "k"); !errors.Is(err, ErrLoadAborted) || errors.Is(err, ErrNotFound) {
				t.Fatalf("Get with a loader panicking with ErrNotFound: %v, want ErrLoadAborted only", err)
			}
		}
		if st := c.Stats(); st.Loads != 2 || st.NegativeHits != 0 {
			t.Fatalf("stats %+v: the panic was cached", st)
		}
	})
}

// TestRefreshGoexit: a background refresh whose loader calls runtime.Goexit frees the key, so that the next
// stale read starts another refresh, and reads past the stale window load again instead of waiting forever.
func TestRefreshGoexit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var loads atomic.Int64
		c := newCache[string, string](t, WithLocal(10, time.Minute), WithStaleWhileRevalidate(time.Minute),
			WithLoader(func(_ context.Context, k string) (string, error) {
				if n := loads.Add(1); n == 2 {
					runtime.Goexit()
				}
				return "v" + k, nil
			}))
		ctx := waitCtx(t)
		if _, err := c.Get(ctx, "1"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute + time.Second) // stale
		for range 2 {
			if v, err := c.Get(ctx, "1"); err != nil || v != "v1" {
				t.Fatalf("stale Get = %q, %v", v, err)
			}
			synctest.Wait() // the refresh ends
		}
		if st := c.Stats(); st.Refreshes != 2 || st.Loads != 3 || st.LoadErrors != 1 {
			t.Fatalf("stats %+v: want the refresh after the aborted one to run", st)
		}
		time.Sleep(2 * time.Minute) // past the window of the refreshed entry too
		if v, err := c.Get(ctx, "1"); err != nil || v != "v1" || loads.Load() != 4 {
			t.Fatalf("Get past the stale window = %q, %v after %d loads; want a new load", v, err, loads.Load())
		}
	})
	t.Run("only refresh", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var loads atomic.Int64
			c := newCache[string, string](t, WithLocal(10, time.Minute), WithStaleWhileRevalidate(time.Minute),
				WithLoader(func(_ context.Context, k string) (string, error) {
					if loads.Add(1) == 2 {
						runtime.Goexit()
					}
					return "v" + k, nil
				}))
			ctx := waitCtx(t)
			c.Get(ctx, "1")
			time.Sleep(time.Minute + time.Second)
			c.Get(ctx, "1") // starts the refresh that aborts
			synctest.Wait()
			time.Sleep(time.Minute) // past the stale window: the entry is gone
			if v, err := c.Get(ctx, "1"); err != nil || v != "v1" {
				t.Fatalf("Get after an aborted refresh and the end of the window = %q, %v; want a new load", v, err)
			}
		})
	})
}

func TestGetManyLoaderGoexit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var aborted atomic.Bool
		c := newCache[string, string](t, WithLoader(func(_ context.Context, k string) (string, error) {
			if k == "b" && !aborted.Swap(true) {
				runtime.Goexit()
			}
			return "v:" + k, nil
		}))
		m, err := c.GetMany(waitCtx(t), []string{"a", "b", "c"})
		if !errors.Is(err, ErrLoadAborted) {
			t.Fatalf("GetMany whose loader called runtime.Goexit for one key: %v, want ErrLoadAborted", err)
		}
		if v, ok := m["b"]; ok {
			t.Fatalf("GetMany returned %q for the key whose load aborted", v)
		}
		if m["a"] != "v:a" || m["c"] != "v:c" {
			t.Fatalf("GetMany = %v, want the other keys", m)
		}
		if v, err := c.Get(waitCtx(t), "b"); err != nil || v != "v:b" {
			t.Fatalf("Get of the aborted key = %q, %v; it must load again", v, err)
		}
	})
}

func TestGetManyBulkLoaderAborts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		abort func()
		want  string
	}{
		{"goexit", runtime.Goexit, "runtime.Goexit"},
		{"panic", func() { panic("bad batch") }, "bulk loader panicked: bad batch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var calls atomic.Int64
				c := newCache[string, string](t, WithBulkLoader(func(_ context.Context, ks []string) (map[string]string, error) {
					if calls.Add(1) == 1 {
						tc.abort()
					}
					m := map[string]string{}
					for _, k := range ks {
						m[k] = "v:" + k
					}
					return m, nil
				}))
				ctx := waitCtx(t)
				if _, err := c.GetMany(ctx, []string{"a", "b"}); !errors.Is(err, ErrLoadAborted) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("GetMany with an aborting bulk loader: %v, want ErrLoadAborted (%s)", err, tc.want)
				}
				m, err := c.GetMany(ctx, []string{"a", "b"})
				if err != nil || m["a"] != "v:a" || m["b"] != "v:b" {
					t.Fatalf("GetMany after the aborted load = %v, %v; the keys must load again", m, err)
				}
				if st := c.Stats(); st.LoadErrors != 1 {
					t.Fatalf("stats %+v", st)
				}
			})
		})
	}
}

// goexitRemote calls runtime.Goexit in the first Get or Set after it is armed, as a test fake calling t.Fatal
// from the cache's goroutine would.
type goexitRemote struct {
	*memRemote
	onGet, onSet atomic.Bool
}

func (r *goexitRemote) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if r.onGet.Swap(false) {
		runtime.Goexit()
	}
	return r.memRemote.Get(ctx, key)
}

func (r *goexitRemote) Set(ctx context.Context, key string, b []byte, ttl time.Duration) error {
	if r.onSet.Swap(false) {
		runtime.Goexit()
	}
	return r.memRemote.Set(ctx, key, b, ttl)
}

// TestRemoteGoexit: a Remote that calls runtime.Goexit during a load does not leave the key held by a flight
// that never ends, neither in Get's load nor in GetMany's remote writes (made after its waiters got their values).
func TestRemoteGoexit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var loads atomic.Int64
		remote := &goexitRemote{memRemote: newMemRemote()}
		c := newCache[string, string](t, WithRemote(remote), WithLocal(10, time.Minute), WithLoader(countingLoader(&loads)))
		ctx := waitCtx(t)

		remote.onGet.Store(true)
		if _, err := c.Get(ctx, "a"); !errors.Is(err, ErrLoadAborted) {
			t.Fatalf("Get whose remote read called runtime.Goexit: %v, want ErrLoadAborted", err)
		}
		if v, err := c.Get(ctx, "a"); err != nil || v != "v:a" {
			t.Fatalf("Get after the aborted load = %q, %v", v, err)
		}

		remote.onSet.Store(true)
		m, err := c.GetMany(ctx, []string{"b"})
		if err != nil || m["b"] != "v:b" {
			t.Fatalf("GetMany = %v, %v; its waiters are answered before the remote write", m, err)
		}
		synctest.Wait() // the remote write, which aborts
		time.Sleep(time.Minute + time.Second)
		before := loads.Load()
		if v, err := c.Get(ctx, "b"); err != nil || v != "v:b" || loads.Load() != before+1 {
			t.Fatalf("Get of an expired key whose remote write aborted = %q, %v with %d new loads; want 1",
				v, err, loads.Load()-before)
		}
	})
}
