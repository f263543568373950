// Package clock is the one notion of time shared by Sluice's packages.
//
// Packages take a WithClock(func() time.Time) option, read the clock at most once per operation, and keep time
// as int64 nanoseconds since an epoch so that state fits in one atomic word. Timers are the runtime's, so tests of
// waiting run under testing/synctest, where both the clock and the timers are fake. [Coarse] serves hot paths
// that can live with a reading up to a resolution old, at the cost of one atomic load per read.
package clock

import "time"

// Nanos turns a now function into monotonic nanoseconds since the moment it was made.
// The zero value is not usable; make one with [New]. It is safe for concurrent use.
type Nanos struct {
	now   func() time.Time // nil for the system clock
	epoch time.Time
}

// New returns a Nanos reading now, or the system clock when now is nil.
func New(now func() time.Time) Nanos {
	if now == nil {
		return Nanos{epoch: time.Now()}
	}
	return Nanos{now: now, epoch: now()}
}

// Now returns the nanoseconds elapsed since c was made. On the system clock it is time.Since of a monotonic
// epoch, which reads only the monotonic clock: about half the cost of time.Now, which reads the wall clock too.
// It follows the fake clock of a testing/synctest bubble like any time function.
func (c Nanos) Now() int64 {
	if c.now == nil {
		return int64(time.Since(c.epoch))
	}
	return int64(c.now().Sub(c.epoch))
}

// Time returns the wall time of c's clock.
func (c Nanos) Time() time.Time {
	if c.now == nil {
		return time.Now()
	}
	return c.now()
}

// At converts nanoseconds from [Nanos.Now] back to a time.
func (c Nanos) At(n int64) time.Time { return c.epoch.Add(time.Duration(n)) }
