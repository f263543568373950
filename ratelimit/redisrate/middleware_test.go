package redisrate_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sluice-go/sluice/ratelimit"
	"github.com/sluice-go/sluice/ratelimit/redisrate"
)

// TestMiddlewareOnRedis runs the HTTP middleware on the Redis limiter: what two servers behind one Redis send.
func TestMiddlewareOnRedis(t *testing.T) {
	mr := miniredis.RunT(t)
	mr.SetTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	l, err := redisrate.New(c, ratelimit.PerMinute(2))
	if err != nil {
		t.Fatal(err)
	}
	var servers []http.Handler
	for range 2 {
		mw, err := ratelimit.Middleware(l)
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	}
	want := []struct {
		code             int
		rateLimit, retry string
	}{
		{200, `"default";r=1;t=30`, ""},
		{200, `"default";r=0;t=60`, ""},
		{429, `"default";r=0;t=60`, "30"},
	}
	for i, w := range want {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "[2001:db8::7]:5000"
		rec := httptest.NewRecorder()
		servers[i%2].ServeHTTP(rec, r)
		h := rec.Header()
		if rec.Code != w.code || h.Get("RateLimit") != w.rateLimit || h.Get("Retry-After") != w.retry ||
			h.Get("RateLimit-Policy") != `"default";q=2;w=60` {
			t.Errorf("request %d: %d %v", i, rec.Code, h)
		}
	}
	if !mr.Exists("sluice:rl:gcra:{2001:db8::7}") {
		t.Errorf("keys %v", mr.Keys())
	}
}
