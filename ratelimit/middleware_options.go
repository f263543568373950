package ratelimit

import (
	"fmt"
	"net/http"
	"net/textproto"
	"time"
)

// MiddlewareOption configures [Middleware]. It is distinct from [Option], which configures limiters.
type MiddlewareOption interface{ applyMiddleware(*middlewareConfig) }

type middlewareOptionFunc func(*middlewareConfig)

func (f middlewareOptionFunc) applyMiddleware(c *middlewareConfig) { f(c) }

type middlewareConfig struct {
	trusted     []string
	proxyHeader string
	v4Bits      int
	v6Bits      int
	keyFunc     func(*http.Request) (string, error)
	cost        int
	costFunc    func(*http.Request) int
	policyName  string
	window      time.Duration
	ietf        bool
	legacy      LegacyReset
	denied      func(http.ResponseWriter, *http.Request, Decision)
	failOpen    bool
	errHook     func(*http.Request, error)
	errHandler  func(http.ResponseWriter, *http.Request, error)
	pk          func(string) []byte
	err         error // the first invalid option
}

func (c *middlewareConfig) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf(format, args...)
	}
}

func newMiddlewareConfig(opts []MiddlewareOption) middlewareConfig {
	c := middlewareConfig{
		proxyHeader: "X-Forwarded-For",
		v4Bits:      32,
		v6Bits:      128,
		cost:        1,
		policyName:  "default",
		ietf:        true,
		failOpen:    true,
		denied:      writeDenied,
		errHandler:  writeUnavailable,
	}
	for _, o := range opts {
		o.applyMiddleware(&c)
	}
	return c
}

// WithTrustedProxies lists the proxies, as CIDRs ("10.0.0.0/8", "2001:db8::/32") or single addresses
// ("127.0.0.1"), whose forwarding header (see [WithProxyHeader]) is believed. Only when the direct peer is one of
// them is the header read, from the right, up to the first hop that is not trusted: that hop is the client. A
// client can prepend anything it likes to the header, but never get past the hops your proxies appended.
// Without this option the header is ignored and the key is the direct peer's address. Repeating it adds proxies.
func WithTrustedProxies(cidrs ...string) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) { c.trusted = append(c.trusted, cidrs...) })
}

// WithProxyHeader names the header your trusted proxies write: "X-Forwarded-For" (the default), "Forwarded"
// (RFC 7239, parsed as such), or a header with X-Forwarded-For syntax such as "X-Real-IP" or
// "CF-Connecting-IP". Name only a header that your proxies set or append to: the others are client input.
// Repeating it replaces the name.
func WithProxyHeader(name string) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) {
		for i := 0; i < len(name); i++ {
			if !isTchar(name[i]) {
				c.fail("ratelimit: WithProxyHeader: invalid header name, got %q", name)
				return
			}
		}
		if name == "" {
			c.fail("ratelimit: WithProxyHeader: invalid header name, got %q", name)
			return
		}
		c.proxyHeader = name
	})
}

// WithIPv6Prefix keys IPv6 clients by their first bits bits (1 to 128; default 128, the whole address). One
// subscriber usually owns a whole /64, so WithIPv6Prefix(64) stops a client from rotating through its addresses
// to multiply its quota. Repeating it replaces the length.
func WithIPv6Prefix(bits int) MiddlewareOption { return prefixOption("WithIPv6Prefix", bits, 128) }

// WithIPv4Prefix keys IPv4 clients by their first bits bits (1 to 32; default 32, the whole address).
// Repeating it replaces the length.
func WithIPv4Prefix(bits int) MiddlewareOption { return prefixOption("WithIPv4Prefix", bits, 32) }

func prefixOption(name string, bits, maxBits int) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) {
		if bits < 1 || bits > maxBits {
			c.fail("ratelimit: %s: bits must be in [1, %d], got %d", name, maxBits, bits)
			return
		}
		if maxBits == 32 {
			c.v4Bits = bits
		} else {
			c.v6Bits = bits
		}
	})
}

// WithKeyFunc keys requests with f instead of the client address: an API key, a user ID, a tenant. An empty key
// with a nil error lets the request through unlimited and without rate-limit fields; an error is handled like a
// limiter error (see [WithFailOpen]). The key is passed to the limiter as is: put the client address in it (see
// the proxy options) if you want both. Repeating it replaces f.
func WithKeyFunc(f func(r *http.Request) (string, error)) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) {
		if f == nil {
			c.fail("ratelimit: WithKeyFunc: key function must not be nil, got nil")
			return
		}
		c.keyFunc = f
	})
}

// WithCost makes each request consume n events (default 1). Repeating it, or [WithCostFunc], replaces the cost.
func WithCost(n int) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) {
		if n < 1 {
			c.fail("ratelimit: WithCost: cost must be >= 1, got %d", n)
			return
		}
		c.cost, c.costFunc = n, nil
	})
}

// WithCostFunc sets each request's cost from the request (for example by route, or by body size for a byte
// quota). A cost below 1 lets the request through unlimited and without rate-limit fields. Repeating it, or
// [WithCost], replaces the cost.
func WithCostFunc(f func(r *http.Request) int) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) {
		if f == nil {
			c.fail("ratelimit: WithCostFunc: cost function must not be nil, got nil")
			return
		}
		c.costFunc = f
	})
}

// WithPolicyName names the quota policy in the RateLimit and RateLimit-Policy fields (default "default"). It must
// be printable ASCII; it is sent as a structured-field string. Repeating it replaces the name.
func WithPolicyName(name string) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) {
		if err := validSFString(name); err != nil {
			c.fail("%w", err)
			return
		}
		c.policyName = name
	})
}

// WithPolicyWindow sets the w (window, whole seconds, rounded up) parameter of RateLimit-Policy, normally the
// Period of the limiter's Rate; q is the Decision's Limit. Without it, w is the Period of the limiter's Rate when
// the limiter has a Rate() Rate method, and is left out otherwise, which the draft allows.
// Repeating it replaces the window.
func WithPolicyWindow(d time.Duration) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) {
		if d <= 0 {
			c.fail("ratelimit: WithPolicyWindow: window must be > 0, got %s", d)
			return
		}
		c.window = d
	})
}

// WithIETFHeaders turns the RateLimit and RateLimit-Policy fields of draft-ietf-httpapi-ratelimit-headers on
// (the default) or off. Repeating it replaces the setting.
func WithIETFHeaders(on bool) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) { c.ietf = on })
}

// WithPartitionKey adds the draft's pk parameter (an sf-binary) to both fields, so that a client can tell which
// quota partition a response counted against. f maps the limiter key to the bytes sent; the key itself may be
// an API key or an address that should not be echoed, so send a digest or an opaque identifier, for example the
// first 8 bytes of an HMAC of the key. A nil result sends pk as an empty byte sequence. Repeating it replaces f.
func WithPartitionKey(f func(key string) []byte) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) {
		if f == nil {
			c.fail("ratelimit: WithPartitionKey: function must not be nil, got nil")
			return
		}
		c.pk = f
	})
}

// WithLegacyHeaders also sends X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset, the fields most
// existing clients read, with the reset in the given format. Repeating it replaces the format.
func WithLegacyHeaders(reset LegacyReset) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) {
		if reset != LegacyResetSeconds && reset != LegacyResetUnix {
			c.fail("ratelimit: WithLegacyHeaders: unknown reset format, got %d", reset)
			return
		}
		c.legacy = reset
	})
}

// WithDeniedHandler replaces the response to a denied request. The rate-limit fields and Retry-After are already
// set on w when h runs; h writes the status (normally 429) and body. The default writes 429 with an
// application/problem+json body of the draft's quota-exceeded problem type. Repeating it replaces h.
func WithDeniedHandler(h func(w http.ResponseWriter, r *http.Request, d Decision)) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) {
		if h == nil {
			c.fail("ratelimit: WithDeniedHandler: handler must not be nil, got nil")
			return
		}
		c.denied = h
	})
}

// WithFailOpen decides what happens when no decision can be made (the limiter or the key function returned an
// error): true (the default, as in Envoy and Kong) lets the request through without rate-limit fields, false
// rejects it with the error handler (see [WithErrorHandler]; 503 by default). Either way the error hook runs.
// Repeating it replaces the setting.
func WithFailOpen(open bool) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) { c.failOpen = open })
}

// WithErrorHook calls f with every limiter or key-function error, before the request is let through or
// rejected: log or count them there. Repeating it replaces f.
func WithErrorHook(f func(r *http.Request, err error)) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) { c.errHook = f })
}

// WithErrorHandler replaces the response to a request rejected because no decision could be made, with
// WithFailOpen(false). The default writes 503 with an application/problem+json body. Repeating it replaces h.
func WithErrorHandler(h func(w http.ResponseWriter, r *http.Request, err error)) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) {
		if h == nil {
			c.fail("ratelimit: WithErrorHandler: handler must not be nil, got nil")
			return
		}
		c.errHandler = h
	})
}

func canonicalHeader(name string) string { return textproto.CanonicalMIMEHeaderKey(name) }
