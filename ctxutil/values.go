package ctxutil

import (
	"context"
	"crypto/rand"
	"encoding/base32"

	"go.uber.org/zap"
)

// The request-scoped values share one context entry: reading any of them is one lookup, and setting one
// copies a small struct instead of lengthening the chain that every lookup walks.
type values struct {
	requestID   string
	traceParent string
	traceState  string
	logger      *zap.Logger
}

type valuesKey struct{}

func load(ctx context.Context) *values {
	v, _ := ctx.Value(valuesKey{}).(*values)
	return v
}

func store(ctx context.Context, update func(*values)) context.Context {
	var v values
	if old := load(ctx); old != nil {
		v = *old
	}
	update(&v)
	return context.WithValue(ctx, valuesKey{}, &v)
}

// WithRequestID returns a copy of ctx carrying the request ID id. It stores id as given; [Middleware] is where
// inbound IDs are validated.
func WithRequestID(ctx context.Context, id string) context.Context {
	return store(ctx, func(v *values) { v.requestID = id })
}

// RequestID returns the request ID in ctx, or "" when there is none.
func RequestID(ctx context.Context) string {
	if v := load(ctx); v != nil {
		return v.requestID
	}
	return ""
}

// maxRequestIDLen is the longest inbound request ID [ValidRequestID] accepts.
const maxRequestIDLen = 128

// ValidRequestID reports whether id is safe to accept from a client: 1 to 128 characters of [A-Za-z0-9._-].
// Anything else could forge log lines, inflate storage or smuggle markup, so [Middleware] replaces it.
func ValidRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewRequestID returns a new random request ID: 128 bits from crypto/rand as 26 lowercase base32 characters.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return idEncoding.EncodeToString(b[:])
}

// WithLogger returns a copy of ctx carrying the logger l. A nil l removes the logger, so [Logger] falls back.
func WithLogger(ctx context.Context, l *zap.Logger) context.Context {
	return store(ctx, func(v *values) { v.logger = l })
}

// Logger returns the logger in ctx. It never returns nil: without one it returns the global logger,
// [zap.L], which is a no-op logger unless the program called [zap.ReplaceGlobals].
func Logger(ctx context.Context) *zap.Logger {
	if v := load(ctx); v != nil && v.logger != nil {
		return v.logger
	}
	return zap.L()
}

// WithLogFields returns a copy of ctx whose logger is [Logger](ctx) with fields added. The logger that ctx
// carries is not changed, so fields never leak to other requests sharing it.
func WithLogFields(ctx context.Context, fields ...zap.Field) context.Context {
	if len(fields) == 0 {
		return ctx
	}
	return WithLogger(ctx, Logger(ctx).With(fields...))
}
