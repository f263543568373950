package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/sluice-go/sluice/ratelimit"
)

// quota is a tiny KeyLimiter for the example: limit events per key, never refilled. Services use a limiter of
// this package or of package redisrate instead.
type quota struct {
	mu    sync.Mutex
	limit int
	used  map[string]int
}

func (q *quota) Limit(_ context.Context, key string, n int) (ratelimit.Decision, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := ratelimit.Decision{Limit: q.limit, ResetAfter: time.Minute}
	if q.used[key]+n <= q.limit {
		q.used[key] += n
		d.Allowed = true
	} else {
		d.RetryAfter = 20 * time.Second
	}
	d.Remaining = q.limit - q.used[key]
	return d, nil
}

func ExampleMiddleware() {
	limiter := &quota{limit: 2, used: map[string]int{}}
	mw, err := ratelimit.Middleware(limiter,
		ratelimit.WithTrustedProxies("10.0.0.0/8"), // the load balancer's network
		ratelimit.WithPolicyWindow(time.Minute),
	)
	if err != nil {
		panic(err)
	}
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") }))

	for range 3 {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "10.1.2.3:55000"                              // the load balancer
		r.Header.Set("X-Forwarded-For", "203.0.113.9, 198.51.100.7") // the client spoofed the first hop
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Printf("%d RateLimit-Policy: %s RateLimit: %s Retry-After: %q\n", w.Code,
			w.Header().Get("RateLimit-Policy"), w.Header().Get("RateLimit"), w.Header().Get("Retry-After"))
	}
	fmt.Println("keyed by", limiterKeys(limiter))
	// Output:
	// 200 RateLimit-Policy: "default";q=2;w=60 RateLimit: "default";r=1;t=60 Retry-After: ""
	// 200 RateLimit-Policy: "default";q=2;w=60 RateLimit: "default";r=0;t=60 Retry-After: ""
	// 429 RateLimit-Policy: "default";q=2;w=60 RateLimit: "default";r=0;t=60 Retry-After: "20"
	// keyed by [198.51.100.7]
}

func limiterKeys(q *quota) []string {
	var keys []string
	for k := range q.used {
		keys = append(keys, k)
	}
	return keys
}

func ExampleWithKeyFunc() {
	limiter := &quota{limit: 1, used: map[string]int{}}
	mw, err := ratelimit.Middleware(limiter,
		ratelimit.WithKeyFunc(func(r *http.Request) (string, error) {
			if r.URL.Path == "/healthz" {
				return "", nil // not limited
			}
			if k := r.Header.Get("X-API-Key"); k != "" {
				return "apikey:" + k, nil
			}
			return "", errors.New("no API key")
		}),
		ratelimit.WithFailOpen(false), // a request without a key is refused, not waved through
		ratelimit.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, err.Error(), http.StatusUnauthorized)
		}),
	)
	if err != nil {
		panic(err)
	}
	h := mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, c := range []struct{ path, key string }{{"/v1/items", "k1"}, {"/v1/items", "k1"}, {"/v1/items", "k2"},
		{"/v1/items", ""}, {"/healthz", ""}} {
		r := httptest.NewRequest(http.MethodGet, c.path, nil)
		if c.key != "" {
			r.Header.Set("X-API-Key", c.key)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(c.path, c.key, w.Code)
	}
	// Output:
	// /v1/items k1 200
	// /v1/items k1 429
	// /v1/items k2 200
	// /v1/items  401
	// /healthz  200
}
