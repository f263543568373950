package lru

import (
	"github.com/sluice-go/sluice/internal/clock"
)

// lazyNow reads the clock the first time an operation needs it, and no more than once.
type lazyNow struct {
	clock *clock.Nanos
	t     int64
	read  bool
}

// past reports whether an entry expiring at expires (0: never) has expired.
func (l *lazyNow) past(expires int64) bool {
	if expires == 0 {
		return false
	}
	if !l.read {
		l.t, l.read = l.clock.Now(), true
	}
	return l.t >= expires
}
