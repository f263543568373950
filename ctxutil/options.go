package ctxutil

import (
	"fmt"
	"net/http"
	"net/textproto"
	"time"

	"go.uber.org/zap"
)

// Option configures [Middleware].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	logger          *zap.Logger
	maxTimeout      time.Duration
	requestIDHeader string
	timeoutHeader   string
	newID           func() string
	mux             *http.ServeMux
	err             error
}

func defaultConfig() config {
	return config{
		maxTimeout:      30 * time.Second,
		requestIDHeader: HeaderRequestID,
		timeoutHeader:   HeaderTimeout,
		newID:           NewRequestID,
	}
}

func (c *config) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("ctxutil: "+format, args...)
	}
}

// WithBaseLogger sets the logger that [Middleware] derives each request's logger from. The default is the
// logger already in the request's context, else [zap.L]. Repeating it keeps the last.
func WithBaseLogger(l *zap.Logger) Option {
	return optionFunc(func(c *config) {
		if l == nil {
			c.fail("WithBaseLogger: logger must not be nil")
			return
		}
		c.logger = l
	})
}

// WithMaxTimeout caps the deadline a client may ask for with the timeout header; the default cap is 30s.
// A larger inbound timeout is cut to d. Repeating it keeps the last.
func WithMaxTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.fail("WithMaxTimeout: timeout must be > 0, got %s", d)
			return
		}
		c.maxTimeout = d
	})
}

// WithRequestIDHeader names the header that carries the request ID in and out; the default is X-Request-Id.
// Repeating it keeps the last.
func WithRequestIDHeader(name string) Option {
	return optionFunc(func(c *config) {
		if !validHeaderName(name) {
			c.fail("WithRequestIDHeader: invalid header name %q", name)
			return
		}
		c.requestIDHeader = name
	})
}

// WithTimeoutHeader names the inbound header holding the caller's remaining time, in the grpc-timeout format;
// the default is Grpc-Timeout. An empty name ignores inbound timeouts. Repeating it keeps the last.
func WithTimeoutHeader(name string) Option {
	return optionFunc(func(c *config) {
		if name != "" && !validHeaderName(name) {
			c.fail("WithTimeoutHeader: invalid header name %q", name)
			return
		}
		c.timeoutHeader = name
	})
}

// WithRequestIDGenerator sets the function that makes a request ID when the request brings no valid one; the
// default is [NewRequestID]. IDs it returns are used as they are. Repeating it keeps the last.
func WithRequestIDGenerator(newID func() string) Option {
	return optionFunc(func(c *config) {
		if newID == nil {
			c.fail("WithRequestIDGenerator: generator must not be nil")
			return
		}
		c.newID = newID
	})
}

// WithMux names the [http.ServeMux] that [Middleware] wraps, so that it can find each request's route
// pattern (like "GET /orders/{id}") before the mux routes it, for the logger's route field. Without it the
// route is the request's own Pattern, which is set only when the middleware runs inside the mux.
// Repeating it keeps the last.
func WithMux(mux *http.ServeMux) Option {
	return optionFunc(func(c *config) { c.mux = mux })
}

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || c == ':' || c == '(' || c == ')' || c == ',' || c == '"' || c == '/' {
			return false
		}
	}
	return textproto.CanonicalMIMEHeaderKey(name) != ""
}
