package ctxutil

import (
	"errors"
	"testing"
)

func TestParseTraceParent(t *testing.T) {
	const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		in string
		ok bool
	}{
		{valid, true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
		{"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds", true},
		{"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{valid + "-extra", false}, // version 00 allows nothing after the flags
		{"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", false},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
		{"00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", false},
		{"", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", false},
	}
	for _, tt := range tests {
		tc, err := ParseTraceParent(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseTraceParent(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrMalformedTraceParent) {
			t.Errorf("error %v does not wrap ErrMalformedTraceParent", err)
		}
		if err == nil && tc.TraceID != tt.in[3:35] {
			t.Errorf("TraceID = %q", tc.TraceID)
		}
	}
	tc, _ := ParseTraceParent(valid)
	if !tc.Sampled() || tc.String() != valid {
		t.Fatalf("Sampled() = %v, String() = %q", tc.Sampled(), tc.String())
	}
}

func FuzzParseTraceParent(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tc, err := ParseTraceParent(s)
		if err != nil {
			return
		}
		// Whatever parses is well-formed and re-parses to the same fields.
		again, err := ParseTraceParent(tc.String())
		if err != nil || again.TraceID != tc.TraceID || again.ParentID != tc.ParentID || again.Flags != tc.Flags {
			t.Fatalf("%q parsed to %+v, which does not round-trip: %v", s, tc, err)
		}
		if allZero(tc.TraceID) || allZero(tc.ParentID) || tc.Version == "ff" {
			t.Fatalf("%q accepted with invalid fields %+v", s, tc)
		}
	})
}
