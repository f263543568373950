package main

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"go.uber.org/zap"

	"github.com/sluice-go/sluice/ctxutil"
)

// middleware wraps a handler; chain applies them so that the first listed runs first.
type middleware func(http.Handler) http.Handler

func chain(h http.Handler, mws ...middleware) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// statusWriter records the status a handler wrote, for the access log and the metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// recoverPanics turns a panicking handler into a 500 with a problem body, logging the panic and its stack.
// It runs outermost, so it also catches panics in the other middleware.
func recoverPanics(logger *zap.Logger) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v) // the server's own signal to abort the response
					}
					l := ctxutil.Logger(r.Context())
					if l == zap.L() {
						l = logger
					}
					l.Error("panic serving request", zap.String("panic", fmt.Sprint(v)), zap.ByteString("stack", debug.Stack()))
					writeProblem(w, r, http.StatusInternalServerError, "internal error")
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// accessLog writes one line per request, with the request's own logger (request_id, trace_id, route) and
// records the request in the metrics, labelled by the route pattern that served it (low cardinality).
// A request that no route matches gets the mux's 404 or 405 (with its Allow header) as a problem body, like
// every other error.
func accessLog(m *metrics, mux *http.ServeMux) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w}
			h, route := mux.Handler(r)
			// Logged on the way out, also when the handler panics: recoverPanics, outside, answers 500 then.
			returned := false
			defer func() {
				switch {
				case !returned:
					sw.status = http.StatusInternalServerError
				case sw.status == 0:
					sw.status = http.StatusOK
				}
				logRequest(m, r, route, sw, time.Since(start))
			}()
			if route == "" {
				route = "unmatched"
				var hw headerOnly
				h.ServeHTTP(&hw, r) // the mux's own 404 or 405, to learn its status and Allow header
				if allow := hw.Header().Get("Allow"); allow != "" {
					w.Header().Set("Allow", allow)
				}
				writeProblem(sw, r, hw.status, "")
			} else {
				next.ServeHTTP(sw, r)
			}
			returned = true
		})
	}
}

// logRequest writes the access log line of a request and records it in the metrics.
func logRequest(m *metrics, r *http.Request, route string, sw *statusWriter, took time.Duration) {
	m.observeRequest(route, sw.status, took)
	level := zap.InfoLevel
	if sw.status >= 500 {
		level = zap.ErrorLevel
	}
	ctxutil.Logger(r.Context()).Log(level, "request",
		zap.String("method", r.Method),
		zap.String("path", r.URL.Path),
		zap.Int("status", sw.status),
		zap.Int("bytes", sw.bytes),
		zap.Duration("duration", took),
		zap.String("remote", r.RemoteAddr),
	)
}

// timeBudget bounds every request with the server's own budget; an inbound deadline that is shorter stays.
func timeBudget(d time.Duration) middleware {
	cause := fmt.Errorf("server time budget of %s: %w", d, context.DeadlineExceeded) // made once, not per request
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeoutCause(r.Context(), d, cause)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// headerOnly is a ResponseWriter that keeps the status and headers and drops the body.
type headerOnly struct {
	h      http.Header
	status int
}

func (w *headerOnly) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}

func (w *headerOnly) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *headerOnly) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(b), nil
}
