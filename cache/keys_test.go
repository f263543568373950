package cache

import (
	"strconv"
	"testing"
)

// FuzzKeyRoundTrip: the default key parser inverts the default key format, and rejects what the format never
// produces for the type.
func FuzzKeyRoundTrip(f *testing.F) {
	for _, s := range []string{"0", "-1", "42", "9223372036854775807", "-9223372036854775808", "abc", "", " 1", "+1", "01"} {
		f.Add(s)
	}
	fmtInt, parseInt := defaultKeyFunc[int64](), defaultKeyParser[int64]()
	fmtU8, parseU8 := defaultKeyFunc[uint8](), defaultKeyParser[uint8]()
	fmtStr, parseStr := defaultKeyFunc[string](), defaultKeyParser[string]()
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := parseStr(s); err != nil || k != s || fmtStr(k) != s {
			t.Fatalf("string key %q round-tripped to %q, %v", s, k, err)
		}
		if k, err := parseInt(s); err == nil {
			if back, err := parseInt(fmtInt(k)); err != nil || back != k {
				t.Fatalf("int key %d from %q did not round-trip: %d, %v", k, s, back, err)
			}
			if n, _ := strconv.ParseInt(s, 10, 64); n != k {
				t.Fatalf("parsed %q as %d, strconv says %d", s, k, n)
			}
		}
		if k, err := parseU8(s); err == nil {
			if back, err := parseU8(fmtU8(k)); err != nil || back != k {
				t.Fatalf("uint8 key %d from %q did not round-trip", k, s)
			}
		}
	})
}
