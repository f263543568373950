package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice/cache"
	"github.com/sluice-go/sluice/ctxutil"
)

// BenchmarkMiddleware measures what the middleware chain costs a request: the same profile read (a local
// cache hit) served by the bare handler and through the full chain the service uses (recover, ctxutil,
// access log writing a JSON line, per-client rate limiting, time budget), without the network.
func BenchmarkMiddleware(b *testing.B) {
	a := benchApp(b)
	full, err := a.routes()
	if err != nil {
		b.Fatal(err)
	}
	bareMux := http.NewServeMux()
	bareMux.HandleFunc("GET /users/{id}", a.handleGetUser)
	for _, h := range []struct {
		name string
		h    http.Handler
	}{{"bare", bareMux}, {"chain", full}} {
		b.Run("serial/"+h.name, func(b *testing.B) {
			b.ReportAllocs()
			req := httptest.NewRequest("GET", "/users/42", nil)
			for b.Loop() {
				serve(b, h.h, req)
			}
		})
		b.Run("parallel/"+h.name, func(b *testing.B) {
			b.ReportAllocs()
			var client atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", "/users/42", nil)
				req.RemoteAddr = fmt.Sprintf("10.0.0.%d:1234", client.Add(1)%250)
				for pb.Next() {
					serve(b, h.h, req)
				}
			})
		})
	}
}

// BenchmarkMiddlewareLayers adds the layers of the chain one at a time, outermost first, around the same
// profile read, to show what each costs.
func BenchmarkMiddlewareLayers(b *testing.B) {
	a := benchApp(b)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", a.handleGetUser)
	reqctx, err := ctxutil.Middleware(ctxutil.WithBaseLogger(a.log), ctxutil.WithMux(mux))
	if err != nil {
		b.Fatal(err)
	}
	limit, err := a.rateLimit()
	if err != nil {
		b.Fatal(err)
	}
	layers := []struct {
		name string
		mw   middleware
	}{
		{"recover", recoverPanics(a.log)},
		{"ctxutil", reqctx},
		{"accesslog", accessLog(a.metrics, mux)},
		{"ratelimit", limit},
		{"budget", timeBudget(a.cfg.RequestTimeout)},
	}
	for k := 0; k <= len(layers); k++ {
		var mws []middleware
		name := "bare"
		for _, l := range layers[:k] {
			mws = append(mws, l.mw)
			name = "+" + l.name
		}
		h := chain(mux, mws...)
		b.Run(fmt.Sprintf("%d%s", k, name), func(b *testing.B) {
			b.ReportAllocs()
			req := httptest.NewRequest("GET", "/users/42", nil)
			for b.Loop() {
				serve(b, h, req)
			}
		})
	}
}

func serve(b *testing.B, h http.Handler, req *http.Request) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

// benchApp is an app with only what a profile read needs: a local cache over a loader, and a logger that
// encodes every line but writes it nowhere.
func benchApp(b *testing.B) *app {
	logger, flush, err := newLogger(io.Discard, "info")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(flush)
	users, err := cache.New[int64, user](cache.WithLocal(1000, time.Hour),
		cache.WithLoader(func(_ context.Context, id int64) (user, error) { return user{ID: id, Name: "User"}, nil }))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { users.Close() })
	cfg := config{RatePerClient: 1_000_000_000, Burst: 1_000_000, RequestTimeout: 5 * time.Second, Topic: "orders"}
	return &app{cfg: cfg, log: logger, metrics: newMetrics(), brokerFaults: &Faults{}, users: users}
}
