package ratelimit

import (
	"errors"
	"net/http"
	"strconv"
)

// Middleware returns HTTP middleware that asks l about every request and rejects those it denies.
//
// By default a request is keyed by its client address (see [WithTrustedProxies] for requests that come through
// proxies, [WithKeyFunc] for API keys or users) and costs one event ([WithCost]). Every limited response carries
// the fields of draft-ietf-httpapi-ratelimit-headers, for example
//
//	RateLimit-Policy: "default";q=100;w=60
//	RateLimit: "default";r=42;t=30
//
// where q is the Decision's Limit, w the window (set with [WithPolicyWindow], or the Period of l's Rate when l
// has a Rate() Rate method, as the Redis limiter does), r the remaining quota and t the seconds until the quota
// is full again. A denied request also gets Retry-After (whole seconds, rounded up) and
// the denied handler's response: 429 Too Many Requests with an application/problem+json body by default.
//
// When l returns an error the request is let through (the default) or rejected, see [WithFailOpen]; when the
// error is the request context's own (the client went away), nothing is written and the hook is not called.
// An error that comes with a denying Decision carrying its Limit is a denial with a reason, as [Keyed] returns
// for a cost above the burst or too many keys: the request is denied like any other, and the hook sees the
// error.
//
// Unlike a bare func(http.Handler) http.Handler, Middleware validates its options and returns an error naming
// the first invalid one. The returned middleware is safe for concurrent use.
func Middleware(l KeyLimiter, opts ...MiddlewareOption) (func(http.Handler) http.Handler, error) {
	if l == nil {
		return nil, errors.New("ratelimit: Middleware: limiter must not be nil, got nil")
	}
	c := newMiddlewareConfig(opts)
	if c.err != nil {
		return nil, c.err
	}
	trusted, err := parseTrusted(c.trusted)
	if err != nil {
		return nil, err
	}
	if rl, ok := l.(interface{ Rate() Rate }); ok && c.window == 0 {
		c.window = rl.Rate().Period
	}
	header := canonicalHeader(c.proxyHeader)
	m := &middleware{
		l:   l,
		cfg: c,
		ips: ipResolver{
			trusted:   trusted,
			header:    header,
			forwarded: header == "Forwarded",
			v4Bits:    c.v4Bits,
			v6Bits:    c.v6Bits,
		},
		hw: headerWriter{
			name:   sfString(c.policyName),
			window: ceilSeconds(c.window, maxSFInteger),
			ietf:   c.ietf,
			legacy: c.legacy,
			pk:     c.pk,
		},
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m.serve(w, r, next) })
	}, nil
}

type middleware struct {
	l   KeyLimiter
	cfg middlewareConfig
	ips ipResolver
	hw  headerWriter
}

func (m *middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	n := m.cfg.cost
	if m.cfg.costFunc != nil {
		if n = m.cfg.costFunc(r); n < 1 {
			next.ServeHTTP(w, r)
			return
		}
	}
	var key string
	var err error
	if m.cfg.keyFunc != nil {
		key, err = m.cfg.keyFunc(r)
		if err == nil && key == "" {
			next.ServeHTTP(w, r)
			return
		}
	} else {
		key, err = m.ips.key(r)
	}
	var d Decision
	if err == nil {
		d, err = m.l.Limit(r.Context(), key, n)
	}
	if err != nil {
		if cerr := r.Context().Err(); cerr != nil && errors.Is(err, cerr) {
			return // the client is gone: nobody to answer, and no limiter failure to report
		}
		if m.cfg.errHook != nil {
			m.cfg.errHook(r, err)
		}
		if !d.Allowed && d.Limit > 0 {
			// A denial with its reason (n above the burst, too many keys): never let the failure policy
			// turn it into an admission.
			m.hw.write(w.Header(), key, d)
			m.cfg.denied(w, r, d)
			return
		}
		if m.cfg.failOpen {
			next.ServeHTTP(w, r)
		} else {
			m.cfg.errHandler(w, r, err)
		}
		return
	}
	m.hw.write(w.Header(), key, d)
	if !d.Allowed {
		m.cfg.denied(w, r, d)
		return
	}
	next.ServeHTTP(w, r)
}

// problemTypeQuota is the problem type the draft registers for a client over its quota.
const problemTypeQuota = "https://iana.org/assignments/http-problem-types#quota-exceeded"

// writeDenied is the default denied handler: 429 with an RFC 9457 problem.
func writeDenied(w http.ResponseWriter, _ *http.Request, d Decision) {
	body := `{"type":"` + problemTypeQuota + `","title":"Too Many Requests","status":429,` +
		`"detail":"Request quota exceeded; retry after ` + strconv.FormatInt(retryAfterSeconds(d.RetryAfter), 10) +
		` s."}` + "\n"
	writeProblem(w, http.StatusTooManyRequests, body)
}

// writeUnavailable is the default error handler with WithFailOpen(false): 503, without revealing the error.
func writeUnavailable(w http.ResponseWriter, _ *http.Request, _ error) {
	writeProblem(w, http.StatusServiceUnavailable,
		`{"title":"Service Unavailable","status":503,"detail":"Rate limiter unavailable."}`+"\n")
}

func writeProblem(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h["Content-Type"] = []string{"application/problem+json"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
