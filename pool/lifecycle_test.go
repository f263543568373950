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

// events collects hook events for a test.
type events struct {
	mu  sync.Mutex
	all []Event
}

func (e *events) hook(ev Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
}

func (e *events) of(kind EventKind) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	for _, ev := range e.all {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func TestMinIdleKeptWarm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, b := newTestPool(t, WithMaxSize(4), WithMinIdle(2))
		defer closePool(t, p)
		synctest.Wait()
		if s := p.Stats(); s.Idle != 2 || s.Total != 2 {
			t.Fatalf("after New: %+v, want 2 idle", s)
		}
		r1, _ := p.Acquire(t.Context())
		r2, _ := p.Acquire(t.Context())
		synctest.Wait()
		if s := p.Stats(); s.Idle != 2 || s.InUse != 2 || s.Total != 4 {
			t.Fatalf("with 2 lent: %+v, want 2 idle refilled", s)
		}
		r3, _ := p.Acquire(t.Context())
		synctest.Wait()
		if s := p.Stats(); s.Idle != 1 || s.Total != 4 {
			t.Fatalf("at max size: %+v, want 1 idle and no growth past max", s)
		}
		r3.Destroy()
		synctest.Wait()
		if s := p.Stats(); s.Idle != 2 || b.alive.Load() != 4 {
			t.Fatalf("after a destroy: %+v, want the idle refilled", s)
		}
		r1.Release()
		r2.Release()
	})
}

func TestIdleTimeoutKeepsMinIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, b := newTestPool(t, WithMaxSize(5), WithMinIdle(1), WithMaxIdleTime(time.Minute))
		defer closePool(t, p)
		var rs []*Resource[*conn]
		for range 4 {
			r, err := p.Acquire(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		for _, r := range rs {
			r.Release()
		}
		synctest.Wait()
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if s := p.Stats(); s.Idle < 4 {
			t.Fatalf("before the idle timeout: %+v", s)
		}
		time.Sleep(30 * time.Second)
		synctest.Wait()
		s := p.Stats()
		if s.Idle != 1 || s.DestroyedBy(ReasonIdle) < 3 || b.alive.Load() != 1 {
			t.Fatalf("after the idle timeout: %+v, alive %d, want min idle 1 kept", s, b.alive.Load())
		}
	})
}

func TestIdleTimeoutOnAcquire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The background sweep runs every 30s at most; Acquire must not lend a resource idle too long meanwhile.
		p, _ := newTestPool(t, WithMaxIdleTime(time.Hour))
		defer closePool(t, p)
		r, _ := p.Acquire(t.Context())
		first := r.Value()
		r.Release()
		time.Sleep(time.Hour)
		r, err := p.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if r.Value() == first {
			t.Fatal("Acquire lent a resource idle for longer than WithMaxIdleTime")
		}
		r.Release()
	})
}

func TestLifetimeWithJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const life = 100 * time.Second
		var ev events
		p, _ := newTestPool(t, WithMaxSize(20), WithMaxLifetime(life, 0.1), WithHook(ev.hook))
		defer closePool(t, p)
		var rs []*Resource[*conn]
		for range 20 {
			r, err := p.Acquire(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		seen := map[int64]bool{}
		for _, r := range rs {
			left := r.expiresAt - r.createdAt
			if left > int64(life) || left < int64(life-life/10) {
				t.Fatalf("lifetime %s outside [90s, 100s]", time.Duration(left))
			}
			seen[left] = true
		}
		if len(seen) < 10 {
			t.Fatalf("only %d distinct lifetimes among 20 resources: the jitter does not jitter", len(seen))
		}
		// Held through its lifetime, a busy resource expires on release.
		time.Sleep(life)
		for _, r := range rs {
			r.Release()
		}
		synctest.Wait()
		if s := p.Stats(); s.DestroyedBy(ReasonLifetime) != 20 || s.Total != 0 {
			t.Fatalf("after release past lifetime: %+v", s)
		}
		// Idle ones expire in the background, and one past its lifetime is never lent.
		r, _ := p.Acquire(t.Context())
		created := r.Value()
		r.Release()
		time.Sleep(life)
		synctest.Wait()
		if created.closed.Load() != true {
			t.Fatal("an idle resource past its lifetime was not destroyed in the background")
		}
		if n := len(ev.of(EventDestroyed)); n != 21 {
			t.Fatalf("%d destroyed events, want 21", n)
		}
	})
}

func TestValidateOnBorrow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var checks atomic.Int32
		var bad atomic.Int64
		validate := func(ctx context.Context, c *conn) error {
			checks.Add(1)
			if c.id == bad.Load() {
				return errors.New("ping: broken pipe")
			}
			return nil
		}
		p, _ := newTestPool(t, WithMaxSize(2), WithValidate(validate, time.Second, 5*time.Second))
		defer closePool(t, p)
		r, _ := p.Acquire(t.Context())
		r.Release()
		r, _ = p.Acquire(t.Context()) // idle for 0s: no check
		if checks.Load() != 0 {
			t.Fatal("a resource idle below the threshold was validated")
		}
		bad.Store(r.Value().id)
		r.Release()
		time.Sleep(2 * time.Second)
		r, err := p.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if checks.Load() != 1 || r.Value().id == bad.Load() {
			t.Fatalf("checks %d, lent conn %d: a broken resource was lent", checks.Load(), r.Value().id)
		}
		if s := p.Stats(); s.DestroyedBy(ReasonValidation) != 1 || s.Acquires != 3 {
			t.Fatalf("Stats = %+v", s)
		}
		r.Release()
	})
}

func TestValidateBoundedByTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hang := func(ctx context.Context, c *conn) error {
			<-ctx.Done() // a ping that never answers
			return ctx.Err()
		}
		p, _ := newTestPool(t, WithValidate(hang, 0, 3*time.Second))
		defer closePool(t, p)
		r, _ := p.Acquire(t.Context())
		r.Release()
		start := time.Now()
		r, err := p.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("a hanging check took %s, want the 3s validation timeout", d)
		}
		r.Release()
	})
}

func TestKeepaliveOneAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var inCheck, maxInCheck, checks, maxOut atomic.Int32
		var pp atomic.Pointer[Pool[*conn]]
		validate := func(ctx context.Context, c *conn) error {
			n := inCheck.Add(1)
			defer inCheck.Add(-1)
			maxInCheck.Store(max(maxInCheck.Load(), n))
			checks.Add(1)
			if p := pp.Load(); p != nil {
				maxOut.Store(max(maxOut.Load(), int32(p.Stats().InUse)))
			}
			time.Sleep(time.Second)
			if c.id == 2 {
				return errors.New("dead")
			}
			return nil
		}
		p, _ := newTestPool(t, WithMaxSize(4), WithMinIdle(4), WithKeepalive(time.Minute),
			WithValidate(validate, time.Hour, 5*time.Second))
		pp.Store(p)
		defer closePool(t, p)
		synctest.Wait()
		time.Sleep(time.Minute + 30*time.Second)
		synctest.Wait()
		if checks.Load() < 4 {
			t.Fatalf("%d keepalive checks, want every idle resource checked", checks.Load())
		}
		if maxInCheck.Load() != 1 || maxOut.Load() != 1 {
			t.Fatalf("%d checks at once, %d resources out during checks: keepalive must take one at a time",
				maxInCheck.Load(), maxOut.Load())
		}
		if s := p.Stats(); s.DestroyedBy(ReasonValidation) != 1 || s.Idle != 4 {
			t.Fatalf("the dead resource was not replaced: %+v", s)
		}
	})
}

func TestLeakDetection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		p, _ := newTestPool(t, WithLeakDetection(time.Minute, true), WithHook(ev.hook))
		defer closePool(t, p)
		held, _ := p.Acquire(t.Context())
		quick, _ := p.Acquire(t.Context())
		quick.Release()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		leaks := ev.of(EventLeak)
		if len(leaks) != 1 {
			t.Fatalf("%d leak reports, want 1 for the resource held 2 minutes", len(leaks))
		}
		if leaks[0].Duration < time.Minute || !strings.Contains(leaks[0].Stack, "TestLeakDetection") {
			t.Fatalf("leak report %+v: want the held time and the stack of the Acquire", leaks[0])
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if n := len(ev.of(EventLeak)); n != 1 {
			t.Fatalf("a leak was reported %d times, want once per acquisition", n)
		}
		held.Release()
	})
}

func TestResetAndResize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, b := newTestPool(t, WithMaxSize(4))
		defer closePool(t, p)
		var rs []*Resource[*conn]
		for range 4 {
			r, _ := p.Acquire(t.Context())
			rs = append(rs, r)
		}
		rs[0].Release()
		p.Reset()
		synctest.Wait()
		if s := p.Stats(); s.Idle != 0 || s.DestroyedBy(ReasonReset) != 1 {
			t.Fatalf("after Reset: %+v", s)
		}
		rs[1].Release() // lent before Reset: retired
		synctest.Wait()
		if s := p.Stats(); s.DestroyedBy(ReasonReset) != 2 {
			t.Fatalf("a resource lent before Reset was reused: %+v", s)
		}
		rs[2].Release()
		rs[3].Release()
		synctest.Wait()
		if s := p.Stats(); s.Total != 0 || s.DestroyedBy(ReasonReset) != 4 {
			t.Fatalf("after releasing everything lent before Reset: %+v", s)
		}
		a, _ := p.Acquire(t.Context())
		c, _ := p.Acquire(t.Context())
		p.SetMaxSize(1)
		a.Release()
		synctest.Wait()
		if s := p.Stats(); s.Total != 1 || s.DestroyedBy(ReasonResize) != 1 || s.MaxSize != 1 {
			t.Fatalf("after shrinking to 1: %+v", s)
		}
		c.Release()
		if s := p.Stats(); s.Idle != 1 || b.alive.Load() != 1 {
			t.Fatalf("at size 1: %+v", s)
		}
		// Growing serves waiters at once.
		r, _ := p.Acquire(t.Context())
		got := make(chan *Resource[*conn])
		go func() {
			r, _ := p.Acquire(context.Background())
			got <- r
		}()
		synctest.Wait()
		p.SetMaxSize(2)
		(<-got).Release()
		r.Release()
	})
}

func TestCoarseClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newTestPool(t, WithCoarseClock(10*time.Millisecond), WithMaxIdleTime(time.Second))
		start := time.Now()
		r, _ := p.Acquire(t.Context())
		time.Sleep(1234 * time.Millisecond)
		r.Release()
		if lag := start.Add(1234 * time.Millisecond).Sub(r.IdleSince()); lag < 0 || lag > 10*time.Millisecond {
			t.Fatalf("idle stamp off by %s, want within the 10ms resolution", lag)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if s := p.Stats(); s.DestroyedBy(ReasonIdle) != 1 {
			t.Fatalf("idle timeout with a coarse clock: %+v", s)
		}
		closePool(t, p) // stops the ticker, or goleak complains
	})
}

// Shrinking the pool while resources are being created or checked by keepalive must not leave it over its new
// maximum size once they are done.
func TestShrinkDuringCreateAndKeepalive(t *testing.T) {
	t.Run("create", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := &backend{t: t}
			slow := func(ctx context.Context) (*conn, error) {
				time.Sleep(time.Second)
				return b.create(ctx)
			}
			p, err := New(slow, WithMaxSize(2), WithDestroy(b.destroy))
			if err != nil {
				t.Fatal(err)
			}
			defer closePool(t, p)
			got := make(chan *Resource[*conn], 2)
			for range 2 {
				go func() {
					r, _ := p.Acquire(context.Background())
					got <- r
				}()
			}
			synctest.Wait() // two creations under way
			p.SetMaxSize(1)
			time.Sleep(2 * time.Second)
			synctest.Wait()
			if s := p.Stats(); s.Total != 1 || s.InUse != 1 || s.Waiting != 1 || b.alive.Load() != 1 {
				t.Fatalf("after creations that outlived a shrink to 1: %+v, %d alive; want 1 lent, 1 waiting", s,
					b.alive.Load())
			}
			(<-got).Release()
			(<-got).Release()
		})
	})
	t.Run("keepalive", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var first atomic.Bool
			inCheck, proceed := make(chan struct{}), make(chan struct{})
			validate := func(context.Context, *conn) error {
				if first.CompareAndSwap(false, true) {
					close(inCheck)
					<-proceed
				}
				return nil
			}
			p, b := newTestPool(t, WithMaxSize(3), WithMinIdle(2), WithKeepalive(time.Minute),
				WithValidate(validate, time.Hour, 5*time.Second))
			defer closePool(t, p)
			held, _ := p.Acquire(t.Context())
			<-inCheck // one idle resource out for its check, one idle, one held
			p.SetMaxSize(1)
			close(proceed)
			synctest.Wait()
			if s := p.Stats(); s.Total != 1 || b.alive.Load() != 1 {
				t.Fatalf("after a keepalive check that outlived a shrink to 1: %+v, %d alive", s, b.alive.Load())
			}
			held.Release()
		})
	})
}

// With a coarse clock of 1ms, expiry is off by at most its 1ms resolution: a resource is never retired for
// its lifetime before the exact time (readings are never ahead of the clock) nor more than a resolution after
// it, and an idle timeout fires within a resolution of the exact time either way. Acquire and Release every
// 100µs keep the clock ticking, so the pool reads coarse timestamps, not the clock.
func TestCoarseClockExpiry(t *testing.T) {
	const res, step = time.Millisecond, 100 * time.Microsecond
	destroyedAt := func(reason DestroyReason, at *atomic.Pointer[time.Time]) Option {
		return WithHook(func(e Event) {
			if e.Kind == EventDestroyed && e.Reason == reason {
				now := time.Now()
				at.CompareAndSwap(nil, &now)
			}
		})
	}
	// cycle acquires and releases the pool's one resource every step for d, and returns it released.
	cycle := func(t *testing.T, p *Pool[*conn], d time.Duration) *Resource[*conn] {
		var r *Resource[*conn]
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(step) {
			var err error
			if r, err = p.Acquire(t.Context()); err != nil {
				t.Fatal(err)
			}
			r.Release()
		}
		return r
	}
	t.Run("lifetime", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			const life = 50*time.Millisecond + res/2 // ends between two ticks of the clock
			var at atomic.Pointer[time.Time]
			p, _ := newTestPool(t, WithMaxSize(1), WithMaxLifetime(life, 0), WithCoarseClock(res),
				destroyedAt(ReasonLifetime, &at))
			defer closePool(t, p)
			time.Sleep(3*time.Millisecond + 350*time.Microsecond) // so the lifetime ends between two sweeps
			r := cycle(t, p, step)
			born := r.CreatedAt()
			cycle(t, p, 2*life)
			got := at.Load()
			if got == nil {
				t.Fatal("no resource retired for its lifetime")
			}
			if late := got.Sub(born.Add(life)); late < 0 || late >= res+step {
				t.Fatalf("retired %s after its lifetime ended, want within [0, %s)", late, res+step)
			}
		})
	})
	t.Run("idle", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			const maxIdle = 50 * time.Millisecond
			var at atomic.Pointer[time.Time]
			p, _ := newTestPool(t, WithMaxSize(1), WithMaxIdleTime(maxIdle), WithCoarseClock(res),
				destroyedAt(ReasonIdle, &at))
			defer closePool(t, p)
			r := cycle(t, p, 20*time.Millisecond)
			released := time.Now().Add(-step) // cycle sleeps one step after the last Release
			if lag := released.Sub(r.IdleSince()); lag < 0 || lag >= res {
				t.Fatalf("idle stamp %s behind the release, want within [0, %s)", lag, res)
			}
			// Idle for a resolution less than the timeout: still lent, whatever the stamp's lag.
			time.Sleep(maxIdle - res - 2*step)
			r2, err := p.Acquire(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if r2 != r || at.Load() != nil {
				t.Fatal("a resource idle for less than the timeout minus one resolution was retired")
			}
			r2.Release()
			r = cycle(t, p, 20*time.Millisecond)
			released = time.Now().Add(-step)
			// Idle for a resolution more: retired by the next Acquire if the background sweep did not come first.
			time.Sleep(maxIdle + res - step)
			r2, err = p.Acquire(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer r2.Release()
			got := at.Load()
			if r2 == r || got == nil {
				t.Fatal("a resource idle for a resolution past its timeout was lent")
			}
			if off := got.Sub(released.Add(maxIdle)); off < -res || off > res {
				t.Fatalf("retired %s from the end of its idle timeout, want within ±%s", off, res)
			}
		})
	})
}
