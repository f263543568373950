package clock

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func startCoarse(t *testing.T, clk Nanos, res time.Duration) *Coarse {
	t.Helper()
	c := new(Coarse)
	c.Start(clk, res)
	t.Cleanup(c.Stop)
	return c
}

// While read, the clock lags the real one by at most its resolution and is never ahead of it.
func TestCoarseLagWhileBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const res = time.Millisecond
		clk := New(nil)
		c := startCoarse(t, clk, res)
		if got, want := c.Now(), clk.Now(); got != want {
			t.Fatalf("first read = %d, want the exact %d", got, want)
		}
		for i := range 2000 { // 200ms of reads, 100µs apart
			time.Sleep(100 * time.Microsecond)
			got, now := c.Now(), clk.Now()
			if lag := now - got; lag < 0 || lag > int64(res) {
				t.Fatalf("read %d: lag %s, want within [0, %s]", i, time.Duration(lag), res)
			}
		}
	})
}

// A quarter-resolution sleep that stays inside one tick reads the stored value, not the clock.
func TestCoarseReadsStoredValueWithinTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const res = time.Millisecond
		clk := New(nil)
		c := startCoarse(t, clk, res)
		time.Sleep(res / 2) // the ticker sleeps: no read yet
		first := c.Now()    // exact, and starts the ticker, which next ticks at 1.5ms
		time.Sleep(res / 4)
		if got := c.Now(); got != first {
			t.Fatalf("a read within the tick = %d, want the stored %d", got, first)
		}
		time.Sleep(res) // past the tick: the word is stale
		if got, want := c.Now(), clk.Now(); got != want {
			t.Fatalf("first read after a tick = %d, want the exact %d", got, want)
		}
	})
}

// Unread, the ticker stops after one idle tick and sleeps without a timer: an hour of fake time passes in a
// couple of ticks, and the first read afterwards is exact.
func TestCoarseSleepsWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const res = time.Millisecond
		clk := New(nil)
		c := new(Coarse)
		c.Start(clk, res)
		c.Now()
		time.Sleep(time.Hour)
		if got, want := c.Now(), clk.Now(); got != want {
			t.Fatalf("read after an idle hour = %d, want the exact %d", got, want)
		}
		// That read woke the ticker, which marks the word stale again one resolution later.
		time.Sleep(res * 3 / 2)
		if got, want := c.Now(), clk.Now(); got != want {
			t.Fatalf("read a tick after waking = %d, want the exact %d", got, want)
		}
		time.Sleep(time.Hour)
		c.Stop()
		if c.ticks > 5 {
			t.Fatalf("%d ticks over two idle hours with three reads, want at most 5", c.ticks)
		}
	})
}

// A reader that read the clock before another but stores after it must not take the word back.
func TestCoarsePublishNeverGoesBack(t *testing.T) {
	c := new(Coarse)
	c.word.Store(1000 | 1) // stale
	if got := c.publish(2000); got != 2000 || c.word.Load() != 2000 {
		t.Fatalf("publish(2000) over stale 1000 = %d, word %d", got, c.word.Load())
	}
	if got := c.publish(1500); got != 2000 || c.word.Load() != 2000 {
		t.Fatalf("publish of an older reading = %d, word %d; want 2000 kept", got, c.word.Load())
	}
	c.word.Or(1)
	if got := c.publish(1500); got != 2000 || c.word.Load()&^1 != 2000 {
		t.Fatalf("publish of an older reading over a stale later one = %d, word %d", got, c.word.Load())
	}
	if got := c.publish(2001); got != 2000 || c.word.Load() != 2000 {
		t.Fatalf("publish(2001) = %d, word %d; want 2000 fresh (the low bit is dropped)", got, c.word.Load())
	}
}

// Under -race, goroutines read a real clock with a tiny resolution, so refreshes race all the time: each
// goroutine's readings never go backwards and are never ahead of the clock.
func TestCoarseMonotonicUnderRace(t *testing.T) {
	clk := New(nil)
	c := startCoarse(t, clk, 20*time.Microsecond)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			last := int64(0)
			for range 20000 {
				v := c.Now()
				if v < last {
					t.Errorf("reading went back from %d to %d", last, v)
					return
				}
				if now := clk.Now(); v > now {
					t.Errorf("reading %d ahead of the clock %d", v, now)
					return
				}
				last = v
			}
		})
	}
	wg.Wait()
}

// After Stop no goroutine is left (goleak checks in TestMain) and every read reads the clock.
func TestCoarseStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := New(nil)
		c := new(Coarse)
		c.Start(clk, time.Millisecond)
		c.Now()
		c.Stop()
		c.Stop() // again: nothing
		for range 3 {
			time.Sleep(time.Microsecond)
			if got, want := c.Now(), clk.Now(); got != want {
				t.Fatalf("read after Stop = %d, want the exact %d", got, want)
			}
		}
		new(Coarse).Stop() // never started: nothing
	})
}

func TestCoarseInjectedClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		now := base
		var mu sync.Mutex
		clk := New(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
		c := startCoarse(t, clk, time.Millisecond)
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
		if got := c.Now(); got != int64(time.Minute) {
			t.Fatalf("Now() = %d, want one minute", got)
		}
	})
}

func TestCoarseStartPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"resolution 0": func() { new(Coarse).Start(New(nil), 0) },
		"twice": func() {
			c := new(Coarse)
			c.Start(New(nil), time.Second)
			defer c.Stop()
			c.Start(New(nil), time.Second)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Start did not panic", name)
				}
			}()
			f()
		}()
	}
}
