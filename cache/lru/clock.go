package lru

import (
	"time"

	"github.com/sluice-go/sluice/internal/clock"
)

// nanoClock reads time as nanoseconds since the cache was made.
type nanoClock struct {
	injected bool
	custom   clock.Nanos // used when injected
	epoch    time.Time   // used otherwise
}

func newNanoClock(now func() time.Time) nanoClock {
	if now == nil {
		return nanoClock{epoch: time.Now()}
	}
	return nanoClock{injected: true, custom: clock.New(now)}
}

func (c *nanoClock) now() int64 {
	if c.injected {
		return c.custom.Now()
	}
	// time.Since on a monotonic time reads only the monotonic clock: half the cost of time.Now. It also
	// follows the fake clock of a testing/synctest bubble.
	return int64(time.Since(c.epoch))
}

// lazyNow reads the clock the first time an operation needs it, and no more than once.
type lazyNow struct {
	clock *nanoClock
	t     int64
	read  bool
}

// past reports whether an entry expiring at expires (0: never) has expired.
func (l *lazyNow) past(expires int64) bool {
	if expires == 0 {
		return false
	}
	if !l.read {
		l.t, l.read = l.clock.now(), true
	}
	return l.t >= expires
}
