package pool

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jackc/puddle/v2"
)

// subject is a pool under differential test, lending values that are creation ordinals.
type subject interface {
	acquire(ctx context.Context) (handle any, id int64, err error)
	release(handle any)
	destroy(handle any)
	idle() int
	close()
}

// ledger is the backend behind a subject: it numbers creations and checks the invariants every pool must keep.
type ledger struct {
	t         testing.TB
	max       int64
	created   atomic.Int64
	destroyed atomic.Int64
	lent      sync.Map // id -> true while lent
}

func (l *ledger) create(context.Context) (int64, error) {
	id := l.created.Add(1)
	if live := id - l.destroyed.Load(); live > l.max {
		l.t.Errorf("%d resources alive, max %d", live, l.max)
	}
	return id, nil
}

func (l *ledger) destroyFn(int64) { l.destroyed.Add(1) }

func (l *ledger) lend(id int64) {
	if _, dup := l.lent.LoadOrStore(id, true); dup {
		l.t.Errorf("resource %d lent twice", id)
	}
}

func (l *ledger) back(id int64) { l.lent.Delete(id) }

type ours struct {
	p *Pool[int64]
	l *ledger
}

func (s ours) acquire(ctx context.Context) (any, int64, error) {
	r, err := s.p.Acquire(ctx)
	if err != nil {
		return nil, 0, err
	}
	s.l.lend(r.Value())
	return r, r.Value(), nil
}
func (s ours) release(h any) { r := h.(*Resource[int64]); s.l.back(r.Value()); r.Release() }
func (s ours) destroy(h any) { r := h.(*Resource[int64]); s.l.back(r.Value()); r.Destroy() }
func (s ours) idle() int     { return s.p.Stats().Idle }
func (s ours) close()        { _ = s.p.Close(context.Background()) }

type theirs struct {
	p *puddle.Pool[int64]
	l *ledger
}

func (s theirs) acquire(ctx context.Context) (any, int64, error) {
	r, err := s.p.Acquire(ctx)
	if err != nil {
		return nil, 0, err
	}
	s.l.lend(r.Value())
	return r, r.Value(), nil
}
func (s theirs) release(h any) { r := h.(*puddle.Resource[int64]); s.l.back(r.Value()); r.Release() }
func (s theirs) destroy(h any) { r := h.(*puddle.Resource[int64]); s.l.back(r.Value()); r.Destroy() }
func (s theirs) idle() int     { return int(s.p.Stat().IdleResources()) }
func (s theirs) close()        { s.p.Close() }

func newSubjects(t testing.TB, max int) (ours, theirs) {
	lo, lt := &ledger{t: t, max: int64(max)}, &ledger{t: t, max: int64(max)}
	p, err := New(lo.create, WithMaxSize(max), WithDestroy(lo.destroyFn))
	if err != nil {
		t.Fatal(err)
	}
	q, err := puddle.NewPool(&puddle.Config[int64]{Constructor: lt.create, Destructor: lt.destroyFn,
		MaxSize: int32(max)})
	if err != nil {
		t.Fatal(err)
	}
	return ours{p, lo}, theirs{q, lt}
}

// TestDifferentialSequential replays random schedules of acquire, release, destroy and canceled acquire on our
// pool and on puddle, one operation at a time, and requires the same outcome from both after every step: which
// acquisitions succeed, which resource each lends (both reuse idle resources last in, first out), and how many
// are idle.
func TestDifferentialSequential(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 1))
				max := 1 + rng.IntN(4)
				a, b := newSubjects(t, max)
				subjects := []subject{a, b}
				held := [2][]any{}
				for step := range 300 {
					op := rng.IntN(10)
					pick := rng.IntN(1 << 20)
					var got [2]string
					for i, s := range subjects {
						switch {
						case op < 5: // acquire, waiting at most a second
							ctx, cancel := context.WithTimeout(context.Background(), time.Second)
							if op == 0 {
								cancel() // already canceled
							}
							h, id, err := s.acquire(ctx)
							cancel()
							got[i] = fmt.Sprintf("acquire: id %d err %v", id, err)
							if err == nil {
								held[i] = append(held[i], h)
							}
						case len(held[i]) == 0:
							got[i] = "nothing held"
						default:
							k := pick % len(held[i])
							h := held[i][k]
							held[i] = append(held[i][:k], held[i][k+1:]...)
							if op < 8 {
								s.release(h)
								got[i] = "release"
							} else {
								s.destroy(h)
								got[i] = "destroy"
							}
						}
						synctest.Wait()
						got[i] += fmt.Sprintf(", %d idle", s.idle())
					}
					if got[0] != got[1] {
						t.Fatalf("step %d (max %d): sluice %q, puddle %q", step, max, got[0], got[1])
					}
				}
				for i, s := range subjects {
					for _, h := range held[i] {
						s.release(h)
					}
					s.close()
				}
				synctest.Wait()
				for _, l := range []*ledger{a.l, b.l} {
					if l.created.Load() != l.destroyed.Load() {
						t.Fatalf("after Close: %d created, %d destroyed", l.created.Load(), l.destroyed.Load())
					}
				}
			})
		})
	}
}

// TestDifferentialConcurrent runs the same random concurrent workload on both pools and checks the invariants
// both must keep: never more than max alive, never one resource lent twice, and every resource idle, lent or
// destroyed.
func TestDifferentialConcurrent(t *testing.T) {
	a, b := newSubjects(t, 3)
	for _, s := range []subject{a, b} {
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 2))
				for range 300 {
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(200))*time.Microsecond)
					h, _, err := s.acquire(ctx)
					cancel()
					if err != nil {
						continue
					}
					if rng.IntN(10) == 0 {
						s.destroy(h)
					} else {
						s.release(h)
					}
				}
			})
		}
		wg.Wait()
		var l *ledger
		switch s := s.(type) {
		case ours:
			l = s.l
			deadline := time.Now().Add(5 * time.Second) // destroys finish on their own goroutines
			for s.p.Stats().Total != s.idle() && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		case theirs:
			l = s.l
		}
		if live := l.created.Load() - l.destroyed.Load(); live > 3 || live < int64(s.idle()) {
			t.Errorf("%T: %d alive, %d idle, nothing lent", s, live, s.idle())
		}
		s.close()
		if l.created.Load() != l.destroyed.Load() {
			t.Errorf("%T: after Close %d created, %d destroyed", s, l.created.Load(), l.destroyed.Load())
		}
	}
}
