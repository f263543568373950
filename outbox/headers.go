package outbox

import (
	"context"
	"maps"

	"github.com/sluice-go/sluice/ctxutil"
)

// CaptureHeaders copies the request ID and W3C trace context carried by ctx (see package ctxutil) into
// m.Headers under ctxutil.HeaderRequestID, ctxutil.HeaderTraceParent and ctxutil.HeaderTraceState, so the
// consumer of the published message continues the trace. Headers the caller already set win. The caller's
// map is copied before it is changed, never written to.
func CaptureHeaders(ctx context.Context, m *Message) {
	add := [...][2]string{
		{ctxutil.HeaderRequestID, ctxutil.RequestID(ctx)},
		{ctxutil.HeaderTraceParent, ctxutil.TraceParent(ctx)},
		{ctxutil.HeaderTraceState, ctxutil.TraceState(ctx)},
	}
	copied := false
	for _, kv := range add {
		if kv[1] == "" {
			continue
		}
		if _, ok := m.Headers[kv[0]]; ok {
			continue
		}
		if !copied {
			h := make(map[string]string, len(m.Headers)+len(add))
			maps.Copy(h, m.Headers)
			m.Headers, copied = h, true
		}
		m.Headers[kv[0]] = kv[1]
	}
}
