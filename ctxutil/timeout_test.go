package ctxutil

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestFormatTimeout(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0n"},
		{0, "0n"},
		{1, "1n"},
		{99_999_999, "99999999n"},
		{100_000_000, "100000u"},
		{100_000_001, "100001u"}, // rounds up, never down
		{time.Second, "1000000u"},
		{100 * time.Second, "100000m"},
		{100*time.Second + 1, "100001m"},
		{27 * time.Hour, "97200000m"},
		{40 * 24 * time.Hour, "3456000S"},
		{time.Duration(math.MaxInt64), "2562048H"},
	}
	for _, tt := range tests {
		if got := FormatTimeout(tt.d); got != tt.want {
			t.Errorf("FormatTimeout(%d) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestParseTimeout(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1n", 1, true},
		{"250m", 250 * time.Millisecond, true},
		{"3S", 3 * time.Second, true},
		{"2M", 2 * time.Minute, true},
		{"1H", time.Hour, true},
		{"10u", 10 * time.Microsecond, true},
		{"00000001S", time.Second, true},
		{"99999999H", time.Duration(math.MaxInt64), true},
		{"", 0, false},
		{"S", 0, false},
		{"100", 0, false},
		{"123456789S", 0, false}, // nine digits
		{"-1S", 0, false},
		{"1.5S", 0, false},
		{"1s", 0, false}, // units are case-sensitive
		{"1 S", 0, false},
		{"１S", 0, false}, // non-ASCII digit
	}
	for _, tt := range tests {
		got, err := ParseTimeout(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseTimeout(%q) = %s, %v; want %s, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrMalformedTimeout) {
			t.Errorf("ParseTimeout(%q) error %v does not wrap ErrMalformedTimeout", tt.in, err)
		}
	}
}

func FuzzTimeout(f *testing.F) {
	for _, s := range []string{"1n", "250m", "99999999H", "", "1s", "-1S", "123456789S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseTimeout(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseTimeout(%q) = %s, negative", s, d)
		}
		// Formatting what parsed never gives less time, and parses again.
		back, err := ParseTimeout(FormatTimeout(d))
		if err != nil || back < d {
			t.Fatalf("round trip of %q: %s -> %q -> %s, %v", s, d, FormatTimeout(d), back, err)
		}
	})
}

func FuzzFormatTimeout(f *testing.F) {
	for _, d := range []int64{0, 1, 1e8, 1e9 + 1, math.MaxInt64, -5} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		d := time.Duration(n)
		s := FormatTimeout(d)
		got, err := ParseTimeout(s)
		if err != nil {
			t.Fatalf("FormatTimeout(%d) = %q does not parse: %v", n, s, err)
		}
		if d > 0 && got < d {
			t.Fatalf("FormatTimeout(%d) = %q gives %d: less time than the sender had", n, s, got)
		}
	})
}
