package ratelimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// nopLimiter admits everything with a fixed decision, so the benchmarks measure the middleware alone.
type nopLimiter struct{ allowed bool }

func (l nopLimiter) Limit(context.Context, string, int) (Decision, error) {
	return Decision{Allowed: l.allowed, Limit: 100, Remaining: 42, RetryAfter: 1500e6, ResetAfter: 30e9}, nil
}

// headerSink is a ResponseWriter that reuses its header map, like a server connection between requests, so that
// allocations counted are the middleware's.
type headerSink struct{ h http.Header }

func (s *headerSink) Header() http.Header         { return s.h }
func (s *headerSink) Write(b []byte) (int, error) { return len(b), nil }
func (s *headerSink) WriteHeader(int)             {}

func BenchmarkMiddleware(b *testing.B) {
	for _, c := range []struct {
		name string
		l    KeyLimiter
		opts []MiddlewareOption
		hdr  http.Header
	}{
		{"allow/peer", nopLimiter{true}, nil, nil},
		{"deny/peer", nopLimiter{false}, []MiddlewareOption{WithDeniedHandler(func(w http.ResponseWriter, _ *http.Request, _ Decision) {
			w.WriteHeader(http.StatusTooManyRequests)
		})}, nil},
		{"allow/xff", nopLimiter{true}, []MiddlewareOption{WithTrustedProxies("10.0.0.0/8")},
			http.Header{"X-Forwarded-For": {"6.6.6.6, 198.51.100.7, 10.1.1.1"}}},
		{"allow/forwarded", nopLimiter{true}, []MiddlewareOption{WithTrustedProxies("10.0.0.0/8"), WithProxyHeader("Forwarded")},
			http.Header{"Forwarded": {`for=6.6.6.6, for="[2001:db8::1]:443";proto=https, for=10.1.1.1`}}},
		{"allow/legacy", nopLimiter{true}, []MiddlewareOption{WithLegacyHeaders(LegacyResetSeconds)}, nil},
		{"baseline/bare-handler", nil, nil, nil},
	} {
		var h http.Handler = okHandler
		if c.l != nil {
			h = mustMiddleware(b, c.l, c.opts...)
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "10.0.0.1:4321"
		if c.hdr == nil {
			r.RemoteAddr = "192.0.2.1:4321"
		}
		r.Header = c.hdr
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			w := &headerSink{h: make(http.Header, 8)}
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := &headerSink{h: make(http.Header, 8)}
				for pb.Next() {
					clear(w.h)
					h.ServeHTTP(w, r)
				}
			})
		})
	}
}
