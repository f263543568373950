package pool

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// conn is a fake connection that records its life.
type conn struct {
	id     int64
	closed atomic.Bool
}

// backend makes conns and counts how many are alive, failing the test if one is closed twice.
type backend struct {
	t       testing.TB
	next    atomic.Int64
	alive   atomic.Int64
	maxLive atomic.Int64
	fail    atomic.Pointer[error]
}

func (b *backend) create(ctx context.Context) (*conn, error) {
	if e := b.fail.Load(); e != nil {
		return nil, *e
	}
	n := b.alive.Add(1)
	for {
		m := b.maxLive.Load()
		if n <= m || b.maxLive.CompareAndSwap(m, n) {
			break
		}
	}
	return &conn{id: b.next.Add(1)}, nil
}

func (b *backend) destroy(c *conn) {
	if c.closed.Swap(true) {
		b.t.Errorf("conn %d closed twice", c.id)
	}
	b.alive.Add(-1)
}

func newTestPool(t testing.TB, opts ...Option) (*Pool[*conn], *backend) {
	t.Helper()
	b := &backend{t: t}
	p, err := New(b.create, append([]Option{WithDestroy(b.destroy)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p, b
}

func closePool[T any](t testing.TB, p *Pool[T]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	create := func(context.Context) (*conn, error) { return &conn{}, nil }
	tests := []struct {
		opt  Option
		want string
	}{
		{WithMaxSize(0), "pool: WithMaxSize: size must be >= 1, got 0"},
		{WithMinIdle(-1), "pool: WithMinIdle: count must be >= 0, got -1"},
		{WithMinIdle(11), "pool: WithMinIdle: count must be <= max size 10, got 11"},
		{WithMaxIdleTime(-time.Second), "pool: WithMaxIdleTime: duration must be >= 0, got -1s"},
		{WithMaxLifetime(time.Hour, 1), "pool: WithMaxLifetime: jitter must be in [0, 1), got 1"},
		{WithDestroy(func(string) {}), "pool: WithDestroy: func must be func(*pool.conn), got func(string)"},
		{WithValidate(func(context.Context, int) error { return nil }, 0, time.Second),
			"pool: WithValidate: func must be func(context.Context, *pool.conn) error, got func(context.Context, int) error"},
		{WithValidate(func(context.Context, *conn) error { return nil }, 0, 0),
			"pool: WithValidate: timeout must be > 0, got 0s"},
		{WithKeepalive(time.Minute), "pool: WithKeepalive: needs WithValidate to check resources with, got interval 1m0s"},
		{WithMaxConcurrentCreates(0), "pool: WithMaxConcurrentCreates: count must be >= 1, got 0"},
		{WithCreateTimeout(-1), "pool: WithCreateTimeout: duration must be >= 0, got -1ns"},
		{WithCreateBackoff(time.Second, time.Millisecond), "pool: WithCreateBackoff: need 0 <= min <= max, got 1s and 1ms"},
		{WithCreateBackoff(0, time.Second), "pool: WithCreateBackoff: min must be > 0 when max is, got 0s and 1s"},
		{WithLeakDetection(-1, false), "pool: WithLeakDetection: threshold must be >= 0, got -1ns"},
		{WithHook(nil), "pool: WithHook: func must not be nil"},
		{WithClock(nil), "pool: WithClock: func must not be nil"},
		{WithCoarseClock(-1), "pool: WithCoarseClock: resolution must be >= 0, got -1ns"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			p, err := New(create, tt.opt)
			if err == nil {
				closePool(t, p)
				t.Fatal("New succeeded")
			}
			if err.Error() != tt.want {
				t.Fatalf("error = %q, want %q", err, tt.want)
			}
		})
	}
	if _, err := New[*conn](nil); err == nil || !strings.Contains(err.Error(), "create func") {
		t.Fatalf("New(nil) error = %v", err)
	}
}

func TestAcquireReusesIdleLIFO(t *testing.T) {
	p, _ := newTestPool(t, WithMaxSize(3))
	defer closePool(t, p)
	ctx := context.Background()
	var rs []*Resource[*conn]
	for range 3 {
		r, err := p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	for _, r := range rs {
		r.Release()
	}
	r, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r != rs[2] {
		t.Fatalf("Acquire lent conn %d, want the last released %d", r.Value().id, rs[2].Value().id)
	}
	r.Release()
	s := p.Stats()
	if s.Total != 3 || s.Idle != 3 || s.InUse != 0 || s.Created != 3 || s.Acquires != 4 {
		t.Fatalf("Stats = %+v", s)
	}
}

func TestTryAcquire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newTestPool(t, WithMaxSize(1))
		defer closePool(t, p)
		if _, err := p.TryAcquire(); !errors.Is(err, ErrExhausted) {
			t.Fatalf("TryAcquire on an empty pool: %v, want ErrExhausted", err)
		}
		synctest.Wait() // the background creation it started
		r, err := p.TryAcquire()
		if err != nil {
			t.Fatalf("TryAcquire after the background creation: %v", err)
		}
		if _, err := p.TryAcquire(); !errors.Is(err, ErrExhausted) {
			t.Fatalf("TryAcquire at max size: %v, want ErrExhausted", err)
		}
		r.Release()
	})
}

func TestDoubleReleasePanics(t *testing.T) {
	p, _ := newTestPool(t)
	defer closePool(t, p)
	r, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r.Release()
	for name, f := range map[string]func(){"Release": r.Release, "Destroy": r.Destroy} {
		func() {
			defer func() {
				if msg, _ := recover().(string); !strings.Contains(msg, "released twice") {
					t.Errorf("second %s: panic %q, want a message about a double release", name, msg)
				}
			}()
			f()
		}()
	}
}

func TestDestroyReplaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var reasons []DestroyReason
		var mu sync.Mutex
		p, b := newTestPool(t, WithMaxSize(1), WithMinIdle(1), WithHook(func(e Event) {
			if e.Kind == EventDestroyed {
				mu.Lock()
				reasons = append(reasons, e.Reason)
				mu.Unlock()
			}
		}))
		synctest.Wait()
		r, err := p.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		first := r.Value()
		r.Destroy()
		synctest.Wait()
		if !first.closed.Load() {
			t.Fatal("Destroy did not close the conn")
		}
		if s := p.Stats(); s.Idle != 1 || s.DestroyedBy(ReasonBroken) != 1 || b.alive.Load() != 1 {
			t.Fatalf("after Destroy with min idle 1: Stats = %+v, alive %d", s, b.alive.Load())
		}
		closePool(t, p)
		if b.alive.Load() != 0 {
			t.Fatalf("%d conns alive after Close", b.alive.Load())
		}
		if len(reasons) != 2 || reasons[0] != ReasonBroken || reasons[1] != ReasonClosed {
			t.Fatalf("destroy reasons = %v, want [broken closed]", reasons)
		}
	})
}

func TestCloseWaitsForLent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, b := newTestPool(t, WithMaxSize(2))
		r, err := p.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		closed := make(chan error)
		go func() { closed <- p.Close(context.Background()) }()
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned while a resource was lent")
		default:
		}
		if _, err := p.Acquire(t.Context()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Acquire after Close: %v, want ErrClosed", err)
		}
		if _, err := p.TryAcquire(); !errors.Is(err, ErrClosed) {
			t.Fatalf("TryAcquire after Close: %v, want ErrClosed", err)
		}
		r.Release() // destroys it
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		if b.alive.Load() != 0 {
			t.Fatalf("%d conns alive after Close", b.alive.Load())
		}
	})
}

func TestCloseBoundedByContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, b := newTestPool(t)
		r, err := p.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close with a resource held past its deadline: %v", err)
		}
		r.Release()
		closePool(t, p)
		if b.alive.Load() != 0 {
			t.Fatal("a conn released after Close was not destroyed")
		}
	})
}

func TestCloseWakesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newTestPool(t, WithMaxSize(1))
		r, _ := p.Acquire(t.Context())
		errc := make(chan error)
		go func() {
			_, err := p.Acquire(context.Background())
			errc <- err
		}()
		synctest.Wait()
		go func() { _ = p.Close(context.Background()) }()
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Fatalf("waiter got %v, want ErrClosed", err)
		}
		r.Release()
		closePool(t, p)
	})
}

func TestWaiterTimeoutAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var timedOut, canceled atomic.Int32
		p, _ := newTestPool(t, WithMaxSize(1), WithHook(func(e Event) {
			switch e.Kind {
			case EventTimedOut:
				timedOut.Add(1)
			case EventCanceled:
				canceled.Add(1)
			}
		}))
		defer closePool(t, p)
		r, _ := p.Acquire(t.Context())
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := p.Acquire(ctx); err != context.DeadlineExceeded {
			t.Fatalf("Acquire past its deadline: %v", err)
		}
		ctx2, cancel2 := context.WithCancel(t.Context())
		go func() { time.Sleep(time.Second); cancel2() }()
		if _, err := p.Acquire(ctx2); err != context.Canceled {
			t.Fatalf("canceled Acquire: %v", err)
		}
		s := p.Stats()
		if s.TimedOut != 1 || s.Canceled != 1 || s.Waiting != 0 || timedOut.Load() != 1 || canceled.Load() != 1 {
			t.Fatalf("Stats = %+v, hooks timed out %d canceled %d", s, timedOut.Load(), canceled.Load())
		}
		r.Release()
		r2, err := p.Acquire(t.Context())
		if err != nil || r2 != r {
			t.Fatalf("the one conn is not lendable after the waiters left: %v", err)
		}
		r2.Release()
	})
}

func TestCanceledCallerDoesNotKillDial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type key struct{}
		var sawValue, sawCancel atomic.Bool
		p, err := New(func(ctx context.Context) (*conn, error) {
			sawValue.Store(ctx.Value(key{}) == "v")
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				sawCancel.Store(true)
				return nil, ctx.Err()
			}
			return &conn{id: 1}, nil
		}, WithMaxSize(1))
		if err != nil {
			t.Fatal(err)
		}
		defer closePool(t, p)
		ctx, cancel := context.WithTimeout(context.WithValue(t.Context(), key{}, "v"), 100*time.Millisecond)
		defer cancel()
		if _, err := p.Acquire(ctx); err != context.DeadlineExceeded {
			t.Fatalf("Acquire: %v", err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if sawCancel.Load() || !sawValue.Load() {
			t.Fatalf("create saw cancel %v, saw the caller's value %v", sawCancel.Load(), sawValue.Load())
		}
		if s := p.Stats(); s.Idle != 1 {
			t.Fatalf("the dial's result did not go idle: %+v", s)
		}
	})
}

func TestCreateErrorGoesToWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, b := newTestPool(t, WithMaxSize(2), WithCreateBackoff(time.Second, 8*time.Second))
		defer closePool(t, p)
		boom := errors.New("dial: refused")
		b.fail.Store(&boom)
		start := time.Now()
		for i := range 3 {
			if _, err := p.Acquire(t.Context()); !errors.Is(err, boom) {
				t.Fatalf("Acquire %d: %v, want the creation error", i, err)
			}
		}
		// The first attempt is at once, then 1s and 2s of backoff: no tight loop.
		if got := time.Since(start); got != 3*time.Second {
			t.Fatalf("three failing creations took %s, want 3s of backoff", got)
		}
		b.fail.Store(nil)
		r, err := p.Acquire(t.Context())
		if err != nil {
			t.Fatalf("Acquire once the backend is back: %v", err)
		}
		r.Release()
		if s := p.Stats(); s.CreateFailed != 3 || s.Total != 1 || s.Creating != 0 {
			t.Fatalf("a failed creation leaked a slot: %+v", s)
		}
	})
}

// A waiter that gives up just as it is handed a resource must pass the resource on: it is never lost, whichever
// of the two the waiter sees first. Each round races the cancellation with the hand-off.
func TestWaiterGivingUpWhenServedLosesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, b := newTestPool(t, WithMaxSize(1))
		defer closePool(t, p)
		for round := range 200 {
			r, err := p.Acquire(t.Context())
			if err != nil {
				t.Fatalf("round %d: the pool's one resource is gone: %v", round, err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			got := make(chan *Resource[*conn], 1)
			go func() {
				r, _ := p.Acquire(ctx)
				got <- r
			}()
			synctest.Wait() // queued
			cancel()
			r.Release()
			if r := <-got; r != nil {
				r.Release()
			}
			if s := p.Stats(); s.Total != 1 || s.Idle != 1 || s.Waiting != 0 || b.alive.Load() != 1 {
				t.Fatalf("round %d: %+v, %d alive; want the one resource idle", round, s, b.alive.Load())
			}
		}
	})
}

// The hot path reads a coarse clock by default and the exact one with WithCoarseClock(0) or an injected clock,
// unless WithCoarseClock is given too.
func TestCoarseClockDefaults(t *testing.T) {
	tests := []struct {
		name  string
		opts  []Option
		exact bool
	}{
		{"default", nil, true},
		{"WithCoarseClock(1ms)", []Option{WithCoarseClock(time.Millisecond)}, false},
		{"WithCoarseClock(1ms), WithCoarseClock(0)", []Option{WithCoarseClock(time.Millisecond), WithCoarseClock(0)}, true},
		{"WithClock", []Option{WithClock(time.Now)}, true},
		{"WithClock, WithCoarseClock(1ms)", []Option{WithClock(time.Now), WithCoarseClock(time.Millisecond)}, false},
		{"WithCoarseClock(1ms), WithClock", []Option{WithCoarseClock(time.Millisecond), WithClock(time.Now)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, _ := newTestPool(t, tt.opts...)
				defer closePool(t, p)
				r, _ := p.Acquire(t.Context())
				first := time.Now()
				r.Release() // a first read, exact either way
				time.Sleep(100 * time.Microsecond)
				r, _ = p.Acquire(t.Context())
				r.Release()
				want := time.Now()
				if !tt.exact {
					want = first // within the tick: the coarse clock's stored reading
				}
				if got := r.IdleSince(); !got.Equal(want) {
					t.Fatalf("idle stamp %s after the first release, want %s",
						got.Sub(first), want.Sub(first))
				}
			})
		})
	}
}
