package main

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluice-go/sluice/ctxutil"
	"github.com/sluice-go/sluice/ratelimit"
	"github.com/sluice-go/sluice/ratelimit/redisrate"
)

// routes is every endpoint of the service and the middleware around it. Each request passes, outermost first:
//
//	recover -> ctxutil.Middleware -> access log -> [rate limit -> time budget] -> handler
//
// The bracketed two wrap the API routes only: health checks, metrics and the admin endpoints are for
// operators and load balancers, which must never be throttled by the quota meant for clients.
func (a *app) routes() (http.Handler, error) {
	limit, err := a.rateLimit()
	if err != nil {
		return nil, err
	}
	api := func(h http.HandlerFunc) http.Handler { return chain(h, limit, timeBudget(a.cfg.RequestTimeout)) }

	mux := http.NewServeMux()
	mux.Handle("POST /orders", api(a.handleCreateOrder))
	mux.Handle("GET /orders/{id}", api(a.handleGetOrder))
	mux.Handle("GET /users/{id}", api(a.handleGetUser))

	mux.HandleFunc("GET /healthz", a.handleHealthz)
	mux.HandleFunc("GET /readyz", a.handleReadyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /admin/status", a.handleStatus)
	mux.HandleFunc("GET /admin/faults/{dep}", a.handleGetFaults)
	mux.HandleFunc("PUT /admin/faults/{dep}", a.handlePutFaults)

	reqctx, err := ctxutil.Middleware(
		ctxutil.WithBaseLogger(a.log),
		ctxutil.WithMux(mux),                // the route pattern goes into every log line
		ctxutil.WithMaxTimeout(time.Minute), // an inbound Grpc-Timeout may shorten, never lengthen, beyond this
	)
	if err != nil {
		return nil, err
	}
	return chain(mux, recoverPanics(a.log), reqctx, accessLog(a.metrics, mux)), nil
}

// rateLimit limits each client to -rate requests per second with bursts of -burst, keyed by its address, or by
// the address in X-Forwarded-For when the request comes from one of -trusted-proxies. Denied requests get 429
// with Retry-After and the RateLimit and RateLimit-Policy fields; allowed ones get the fields too.
//
// The quota is kept in process, or with -shared-limit in Redis, so that every instance counts against the same
// quota; when Redis fails, the local limiter decides instead.
func (a *app) rateLimit() (middleware, error) {
	rate := ratelimit.PerSecond(a.cfg.RatePerClient)
	local, err := ratelimit.NewKeyed[string](rate, ratelimit.WithBurst(a.cfg.Burst))
	if err != nil {
		return nil, err
	}
	var kl ratelimit.KeyLimiter = local
	if a.cfg.SharedLimit {
		if kl, err = redisrate.New(a.redis, rate, redisrate.WithBurst(a.cfg.Burst),
			redisrate.WithPrefix(a.cfg.Namespace+":rl:"), redisrate.WithTimeout(50*time.Millisecond),
			redisrate.WithFallback(local)); err != nil {
			return nil, err
		}
	}
	opts := []ratelimit.MiddlewareOption{
		ratelimit.WithPolicyWindow(time.Second),
		ratelimit.WithErrorHook(func(r *http.Request, err error) { logError(r.Context(), "rate limiting", err) }),
	}
	if a.cfg.TrustedProxies != "" {
		opts = append(opts, ratelimit.WithTrustedProxies(strings.Split(a.cfg.TrustedProxies, ",")...))
	}
	mw, err := ratelimit.Middleware(countingLimiter{kl, a.metrics}, opts...)
	if err != nil {
		return nil, err
	}
	return mw, nil
}

// countingLimiter counts a limiter's decisions for the metrics.
type countingLimiter struct {
	ratelimit.KeyLimiter
	m *metrics
}

func (c countingLimiter) Limit(ctx context.Context, key string, n int) (ratelimit.Decision, error) {
	d, err := c.KeyLimiter.Limit(ctx, key, n)
	switch {
	case err != nil:
		c.m.limitErrors.Inc()
	case d.Allowed:
		c.m.allowed.Inc()
	default:
		c.m.denied.Inc()
	}
	return d, err
}
