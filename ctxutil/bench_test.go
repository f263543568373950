package ctxutil

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"

	"github.com/sluice-go/sluice/internal/benchpar"
)

// A realistic request context: a few layers of values above the request-scoped entry.
func deepContext() context.Context {
	ctx := WithRequestID(context.Background(), "req-1")
	ctx = WithLogger(ctx, zap.NewNop())
	for i := range 4 {
		ctx = context.WithValue(ctx, struct{ n int }{i}, i)
	}
	return ctx
}

var (
	sinkString string
	sinkLogger *zap.Logger
	sinkInt    int
)

func BenchmarkRequestID(b *testing.B) {
	ctx := deepContext()
	b.ReportAllocs()
	for b.Loop() {
		sinkString = RequestID(ctx)
	}
}

func BenchmarkLogger(b *testing.B) {
	ctx := deepContext()
	b.ReportAllocs()
	for b.Loop() {
		sinkLogger = Logger(ctx)
	}
}

func BenchmarkKeyValue(b *testing.B) {
	key := NewKey[int]("n")
	ctx := key.WithValue(deepContext(), 7)
	b.Run("typed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkInt, _ = key.Value(ctx)
		}
	})
	// The baseline: a hand-written unexported key type and a type assertion.
	type rawKey struct{}
	raw := context.WithValue(deepContext(), rawKey{}, 7)
	b.Run("baseline-raw-key", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkInt, _ = raw.Value(rawKey{}).(int)
		}
	})
}

func BenchmarkRequestIDParallel(b *testing.B) {
	ctx := deepContext()
	b.ReportAllocs()
	benchpar.Run(b, 1, func(pb *benchpar.Iter) {
		var s string
		for pb.Next() {
			s = RequestID(ctx)
		}
		_ = s
	})
}

func BenchmarkMiddleware(b *testing.B) {
	mw, err := Middleware(WithBaseLogger(zap.NewNop()))
	if err != nil {
		b.Fatal(err)
	}
	h := mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set(HeaderRequestID, "req-1")
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	req.Header.Set(HeaderTimeout, "1S")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

func BenchmarkFormatTimeout(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkString = FormatTimeout(1234567890)
	}
}
