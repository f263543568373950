package pool

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// Hooks run on the pool's own goroutines, which Close waits for, or in an Acquire whose resource Close waits
// for: a Close called from a hook starts the shutdown and returns instead of waiting for itself. Each case
// closes the pool from a hook, a hundred calls deep; under synctest a Close that waited for itself would be a
// deadlock, reported as a panic.
func TestCloseFromHook(t *testing.T) {
	tests := []struct {
		name string
		kind EventKind
		opts []Option
		// trigger makes the pool send an event of kind from one of its goroutines.
		trigger func(t *testing.T, p *Pool[*conn], b *backend)
	}{
		{"acquired, in the Acquire", EventAcquired, nil,
			func(t *testing.T, p *Pool[*conn], b *backend) {
				r, err := p.Acquire(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				r.Release()
			}},
		{"created, on a creation goroutine", EventCreated, []Option{WithMinIdle(1)},
			func(*testing.T, *Pool[*conn], *backend) {}},
		{"create-failed, on a creation goroutine", EventCreateFailed, nil,
			func(t *testing.T, p *Pool[*conn], b *backend) {
				boom := errors.New("dial: refused")
				b.fail.Store(&boom)
				if _, err := p.TryAcquire(); !errors.Is(err, ErrExhausted) {
					t.Fatalf("TryAcquire: %v", err)
				}
			}},
		{"destroyed, on a destroying goroutine", EventDestroyed, nil,
			func(t *testing.T, p *Pool[*conn], b *backend) {
				r, err := p.Acquire(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				r.Destroy()
			}},
		{"destroyed, on the maintainer", EventDestroyed, []Option{WithMaxIdleTime(time.Minute)},
			func(t *testing.T, p *Pool[*conn], b *backend) {
				r, err := p.Acquire(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				r.Release()
				time.Sleep(2 * time.Minute)
			}},
		{"leak, on the maintainer", EventLeak, []Option{WithLeakDetection(time.Minute, false)},
			func(t *testing.T, p *Pool[*conn], b *backend) {
				r, err := p.Acquire(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * time.Minute)
				r.Release()
			}},
		{"destroyed by Close", EventDestroyed, nil,
			func(t *testing.T, p *Pool[*conn], b *backend) {
				r1, err := p.Acquire(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				r2, err := p.Acquire(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				r1.Release()
				r2.Release()
				if err := p.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var pp atomic.Pointer[Pool[*conn]]
				ready := make(chan struct{}) // closed once pp is set
				closed := make(chan error, 1)
				var once atomic.Bool
				var deep func(n int) error // a hook that calls Close from deep in its own calls
				deep = func(n int) error {
					if n == 0 {
						return pp.Load().Close(context.Background())
					}
					return deep(n - 1)
				}
				hook := WithHook(func(e Event) {
					if e.Kind == tt.kind && once.CompareAndSwap(false, true) {
						closed <- deep(100)
					}
				})
				b := &backend{t: t}
				p, err := New(func(ctx context.Context) (*conn, error) {
					<-ready // the hooks need pp, and WithMinIdle creates at once
					return b.create(ctx)
				}, append([]Option{WithDestroy(b.destroy), hook}, tt.opts...)...)
				if err != nil {
					t.Fatal(err)
				}
				pp.Store(p)
				close(ready)
				tt.trigger(t, p, b)
				if err := <-closed; err != nil {
					t.Fatalf("Close from a hook: %v", err)
				}
				if _, err := p.Acquire(t.Context()); !errors.Is(err, ErrClosed) {
					t.Fatalf("Acquire after Close from a hook: %v, want ErrClosed", err)
				}
				closePool(t, p) // waits for the rest, the hook's goroutine included
				if n := b.alive.Load(); n != 0 {
					t.Fatalf("%d conns alive after Close", n)
				}
			})
		})
	}
}

// Close's wait for the pool's goroutines is bounded by ctx too: a hook that blocks a destroying goroutine makes
// Close return ctx.Err(), and a later Close waits for the goroutine once the hook returns.
func TestCloseBoundedByContextWhileHookBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		unblock := make(chan struct{})
		p, b := newTestPool(t, WithHook(func(e Event) {
			if e.Kind == EventDestroyed {
				<-unblock
			}
		}))
		r, err := p.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		r.Destroy() // its destroying goroutine blocks in the hook
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close while a hook blocks a pool goroutine: %v, want the deadline", err)
		}
		close(unblock)
		closePool(t, p)
		if n := b.alive.Load(); n != 0 {
			t.Fatalf("%d conns alive after Close", n)
		}
	})
}
