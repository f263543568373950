package ctxutil

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// The grpc-timeout units, smallest first.
var timeoutUnits = [...]struct {
	unit byte
	d    time.Duration
}{
	{'n', time.Nanosecond},
	{'u', time.Microsecond},
	{'m', time.Millisecond},
	{'S', time.Second},
	{'M', time.Minute},
	{'H', time.Hour},
}

const maxTimeoutDigits = 8

// FormatTimeout formats d in the gRPC grpc-timeout format: at most 8 digits followed by a unit (H, M, S, m, u
// or n). It uses the smallest unit in which d fits, rounding up, so the receiver never gets more time than the
// sender had. A d <= 0 formats as "0n".
func FormatTimeout(d time.Duration) string {
	if d <= 0 {
		return "0n"
	}
	for _, u := range timeoutUnits {
		n := d / u.d
		if d%u.d != 0 {
			n++ // round up
		}
		if n <= 99_999_999 {
			var buf [maxTimeoutDigits + 1]byte
			return string(append(strconv.AppendInt(buf[:0], int64(n), 10), u.unit))
		}
	}
	// Unreachable: 99,999,999 hours exceed the largest Duration.
	return "99999999H"
}

// ParseTimeout parses a grpc-timeout value: 1 to 8 ASCII digits followed by one unit (H, M, S, m, u or n),
// nothing else. A value too large for a Duration is clamped to the largest Duration.
// Anything else returns an error wrapping [ErrMalformedTimeout].
func ParseTimeout(s string) (time.Duration, error) {
	if len(s) < 2 || len(s) > maxTimeoutDigits+1 {
		return 0, fmt.Errorf("%w: %q", ErrMalformedTimeout, s)
	}
	digits, unit := s[:len(s)-1], s[len(s)-1]
	var n int64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %q", ErrMalformedTimeout, s)
		}
		n = n*10 + int64(c-'0')
	}
	for _, u := range timeoutUnits {
		if u.unit == unit {
			if n > math.MaxInt64/int64(u.d) {
				return time.Duration(math.MaxInt64), nil
			}
			return time.Duration(n) * u.d, nil
		}
	}
	return 0, fmt.Errorf("%w: %q: unknown unit %q", ErrMalformedTimeout, s, unit)
}
