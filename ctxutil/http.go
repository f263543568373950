package ctxutil

import (
	"context"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Header names used by [Inject] and [Middleware].
const (
	HeaderRequestID   = "X-Request-Id"
	HeaderTimeout     = "Grpc-Timeout"
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
)

// Inject writes what ctx carries onto the headers of an outbound request: the request ID, the W3C
// traceparent and tracestate as received, and the time left before ctx's deadline as a grpc-timeout value, so
// the callee can stop when this caller will no longer wait. To keep time for handling the answer, derive ctx
// with [WithReserve] first. Headers for values ctx does not carry are left alone.
func Inject(ctx context.Context, h http.Header) {
	if v := load(ctx); v != nil {
		if v.requestID != "" {
			h.Set(HeaderRequestID, v.requestID)
		}
		if v.traceParent != "" {
			h.Set(HeaderTraceParent, v.traceParent)
			if v.traceState != "" {
				h.Set(HeaderTraceState, v.traceState)
			}
		}
	}
	if left, ok := Remaining(ctx); ok {
		h.Set(HeaderTimeout, FormatTimeout(left))
	}
}

// Middleware returns HTTP middleware that sets up each inbound request's context:
//
//   - the request ID from the request ID header when it is 1 to 128 characters of [A-Za-z0-9._-]
//     ([ValidRequestID]), else a new one; it is echoed in the response's request ID header;
//   - the W3C traceparent and tracestate, when the traceparent parses ([WithTraceContext]);
//   - a deadline from the timeout header (grpc-timeout format), capped by [WithMaxTimeout]; a malformed value
//     is ignored. Its cause (see [context.Cause]) names the header;
//   - a logger ([Logger]) with the fields request_id, trace_id (when there is one) and route (the pattern that
//     serves the request, see [WithMux]).
//
// Nothing a client sends is trusted as is and nothing it sends can make the middleware panic. Middleware returns
// an error, naming the option, when an option is invalid.
func Middleware(opts ...Option) (func(http.Handler) http.Handler, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.err != nil {
		return nil, cfg.err
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			id := r.Header.Get(cfg.requestIDHeader)
			if !ValidRequestID(id) {
				id = cfg.newID()
			}
			w.Header().Set(cfg.requestIDHeader, id)

			// tracestate may arrive split over several header lines, which mean their comma-joined list.
			tp, ts := r.Header.Get(HeaderTraceParent), strings.Join(r.Header.Values(HeaderTraceState), ",")
			trace, err := ParseTraceParent(tp)
			if err != nil || !validTraceState(ts) {
				ts = ""
			}
			if err != nil {
				tp = ""
			}

			logger := cfg.logger
			if logger == nil {
				logger = Logger(ctx)
			}
			fields := make([]zap.Field, 0, 3)
			fields = append(fields, zap.String("request_id", id))
			if tp != "" {
				fields = append(fields, zap.String("trace_id", trace.TraceID))
			}
			if route := cfg.route(r); route != "" {
				fields = append(fields, zap.String("route", route))
			}
			logger = logger.With(fields...)

			ctx = store(ctx, func(v *values) {
				v.requestID, v.traceParent, v.traceState, v.logger = id, tp, ts, logger
			})
			if d, ok := cfg.inboundTimeout(r); ok {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeoutCause(ctx, d, &inboundTimeoutError{header: cfg.timeoutHeader, d: d})
				defer cancel()
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}, nil
}

func (c *config) route(r *http.Request) string {
	if r.Pattern != "" || c.mux == nil {
		return r.Pattern
	}
	_, pattern := c.mux.Handler(r)
	return pattern
}

func (c *config) inboundTimeout(r *http.Request) (time.Duration, bool) {
	if c.timeoutHeader == "" {
		return 0, false
	}
	v := r.Header.Get(c.timeoutHeader)
	if v == "" {
		return 0, false
	}
	d, err := ParseTimeout(v)
	if err != nil {
		return 0, false
	}
	return min(d, c.maxTimeout), true
}

// inboundTimeoutError is the cause of a request context whose inbound timeout ran out.
type inboundTimeoutError struct {
	header string
	d      time.Duration
}

func (e *inboundTimeoutError) Error() string {
	return "ctxutil: the caller's " + e.header + " of " + e.d.String() + " ran out"
}

func (e *inboundTimeoutError) Unwrap() error { return context.DeadlineExceeded }
