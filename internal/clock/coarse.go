package clock

import (
	"sync"
	"sync/atomic"
	"time"
)

// Coarse is a clock for hot paths that read the time on every call and can live with a reading up to one
// resolution old: most reads are one atomic load instead of a clock read.
//
// It keeps the last reading of its [Nanos] in one word, even while fresh. Every resolution a ticker goroutine
// marks the word stale by setting its low bit, and the first read that finds it stale reads the clock again and
// stores the reading, even. A tick that finds the word still stale, because nobody read it during the whole
// last tick, stops the ticker: the goroutine then sleeps, with no timer, until a read wakes it. So a busy clock
// costs one clock read per resolution, and an idle one costs nothing at all, which also lets a
// testing/synctest bubble advance its fake time over an idle clock in one step.
//
// Readings are never ahead of the clock, and never go backwards. While the clock is read, a reading is at most
// one resolution behind the clock, plus however late the ticker goroutine runs when the machine starves it of
// CPU; the first read after an idle spell is exact. The reading loses the lowest bit of the nanoseconds.
//
// The zero value is stopped and must be started with [Coarse.Start] before it is read. It is safe for
// concurrent use. It must not be copied after Start.
type Coarse struct {
	word atomic.Int64 // the last reading, with the low bit set once stale
	clk  Nanos
	res  time.Duration

	wake    chan struct{} // capacity 1: a read that refreshed the word wakes a sleeping ticker
	stop    chan struct{} // closed by Stop
	done    chan struct{} // closed when the ticker goroutine returns
	stopped atomic.Bool   // set by Stop: reads leave the word stale, so every read reads the clock
	once    sync.Once
	ticks   int64 // ticks handled, for tests; written by the ticker goroutine only
}

// Start makes c a coarse view of clk with the given resolution and starts its ticker goroutine, which sleeps
// until the first read and runs until [Coarse.Stop]. Start does not read the clock. It panics if resolution is
// not positive or c was started before.
func (c *Coarse) Start(clk Nanos, resolution time.Duration) {
	if resolution <= 0 {
		panic("clock: Coarse.Start: resolution must be > 0")
	}
	if c.stop != nil {
		panic("clock: Coarse.Start: started twice")
	}
	c.clk, c.res = clk, resolution
	c.word.Store(1) // stale: the first read reads the clock
	c.wake = make(chan struct{}, 1)
	c.stop = make(chan struct{})
	c.done = make(chan struct{})
	go c.run()
}

// Now returns nanoseconds on the clock's scale (see [Nanos.Now]), at most about one resolution old.
func (c *Coarse) Now() int64 {
	if v := c.word.Load(); v&1 == 0 {
		return v
	}
	return c.refresh()
}

// refresh reads the clock for a read that found the word stale, stores the reading and wakes the ticker.
func (c *Coarse) refresh() int64 {
	now := c.publish(c.clk.Now())
	if c.stopped.Load() {
		// Stop may have marked the word stale just before this store: mark it again, or it would stay fresh.
		c.word.Or(1)
		return now
	}
	select {
	case c.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
	return now
}

// publish stores reading, even, unless the word holds a later one: readers racing through refresh may read the
// clock in one order and store in the other. It returns what the word holds, which is what the caller reads.
func (c *Coarse) publish(reading int64) int64 {
	reading &^= 1
	for {
		old := c.word.Load()
		if v := old &^ 1; v > reading || (v == reading && old&1 == 0) {
			return v // a later reading won the race; if stale, the next read refreshes it
		}
		if c.word.CompareAndSwap(old, reading) {
			return reading
		}
	}
}

// Stop stops the ticker goroutine and waits for it to return. Afterwards every read reads the clock. Calling
// Stop again, or on a Coarse never started, does nothing.
func (c *Coarse) Stop() {
	if c.stop == nil {
		return
	}
	c.once.Do(func() {
		c.stopped.Store(true)
		close(c.stop)
		<-c.done
		c.word.Or(1)
	})
}

// run is the ticker goroutine: asleep until a read, then ticking every resolution until a tick finds that
// nobody read the clock since the one before.
func (c *Coarse) run() {
	defer close(c.done)
	t := time.NewTicker(c.res)
	t.Stop() // asleep until the first read
	defer t.Stop()
	ticking := false
	for {
		wake, tick := c.wake, (<-chan time.Time)(nil)
		if ticking {
			wake, tick = nil, t.C
		}
		select {
		case <-c.stop:
			return
		case <-wake:
			ticking = true
			t.Reset(c.res)
		case <-tick:
			c.ticks++
			// Drop a wake-up left by an earlier read before looking at the word: a read that refreshes the word
			// after this look then finds the channel empty and wakes the sleep below.
			select {
			case <-c.wake:
			default:
			}
			if c.word.Load()&1 == 0 {
				c.word.Or(1)
				continue
			}
			ticking = false
			t.Stop()
		}
	}
}
