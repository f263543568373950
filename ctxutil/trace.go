package ctxutil

import (
	"context"
	"fmt"
)

// TraceContext is a parsed W3C traceparent (https://www.w3.org/TR/trace-context/).
type TraceContext struct {
	Version  string // 2 lowercase hex digits, never "ff"
	TraceID  string // 32 lowercase hex digits, not all zero
	ParentID string // 16 lowercase hex digits, not all zero
	Flags    string // 2 lowercase hex digits; bit 0 is "sampled"
}

// Sampled reports whether the caller recorded its part of the trace.
func (t TraceContext) Sampled() bool { return len(t.Flags) == 2 && fromHex(t.Flags[1])&1 == 1 }

// String formats t as a version-00 traceparent header value.
func (t TraceContext) String() string {
	return "00-" + t.TraceID + "-" + t.ParentID + "-" + t.Flags
}

// traceparent lengths: version 00 is exactly 55 characters; later versions may append "-" and more fields.
const traceParentLen = 55

// ParseTraceParent parses a W3C traceparent header value strictly: lowercase hex fields of the right lengths,
// a version other than ff, and a trace ID and parent ID that are not all zeros. Version 00 must have nothing
// after the flags; a later version may, after a "-", as the specification allows for forward compatibility.
// Anything else returns an error wrapping [ErrMalformedTraceParent].
func ParseTraceParent(s string) (TraceContext, error) {
	bad := func(why string) (TraceContext, error) {
		return TraceContext{}, fmt.Errorf("%w: %s", ErrMalformedTraceParent, why)
	}
	if len(s) < traceParentLen {
		return bad("too short")
	}
	if s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return bad("fields not separated by '-'")
	}
	t := TraceContext{Version: s[0:2], TraceID: s[3:35], ParentID: s[36:52], Flags: s[53:55]}
	switch {
	case !isLowerHex(t.Version) || !isLowerHex(t.TraceID) || !isLowerHex(t.ParentID) || !isLowerHex(t.Flags):
		return bad("not lowercase hex")
	case t.Version == "ff":
		return bad("version ff is invalid")
	case t.Version == "00" && len(s) != traceParentLen:
		return bad("version 00 with trailing data")
	case len(s) > traceParentLen && s[traceParentLen] != '-':
		return bad("trailing data not separated by '-'")
	case allZero(t.TraceID):
		return bad("all-zero trace ID")
	case allZero(t.ParentID):
		return bad("all-zero parent ID")
	}
	return t, nil
}

// maxTraceStateLen bounds a tracestate passed through: the specification requires carrying at least 512
// characters and lets a longer value be dropped.
const maxTraceStateLen = 512

// WithTraceContext returns a copy of ctx carrying the W3C trace context headers to pass on. A traceparent that
// does not parse is dropped with its tracestate, and so is a tracestate longer than 512 characters or holding
// characters outside printable ASCII; ctxutil never traces anything itself, it only propagates.
func WithTraceContext(ctx context.Context, traceparent, tracestate string) context.Context {
	if _, err := ParseTraceParent(traceparent); err != nil {
		traceparent, tracestate = "", ""
	}
	if !validTraceState(tracestate) {
		tracestate = ""
	}
	return store(ctx, func(v *values) { v.traceParent, v.traceState = traceparent, tracestate })
}

// TraceParent returns the traceparent header value carried by ctx, or "".
func TraceParent(ctx context.Context) string {
	if v := load(ctx); v != nil {
		return v.traceParent
	}
	return ""
}

// TraceState returns the tracestate header value carried by ctx, or "".
func TraceState(ctx context.Context) string {
	if v := load(ctx); v != nil {
		return v.traceState
	}
	return ""
}

// TraceID returns the 32-hex-digit trace ID of the traceparent carried by ctx, or "".
func TraceID(ctx context.Context) string {
	if tp := TraceParent(ctx); len(tp) >= 35 {
		return tp[3:35]
	}
	return ""
}

func validTraceState(s string) bool {
	if len(s) > maxTraceStateLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if fromHex(s[i]) > 15 {
			return false
		}
	}
	return true
}

func fromHex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return 255
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}
