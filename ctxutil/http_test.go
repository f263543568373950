package ctxutil

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

const validTP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// seen is what a handler behind the middleware observed.
type seen struct {
	requestID, traceParent, traceState string
	remaining                          time.Duration
	hasDeadline                        bool
	cause                              error
}

func serve(t *testing.T, mw func(http.Handler) http.Handler, req *http.Request) (seen, *httptest.ResponseRecorder) {
	t.Helper()
	var s seen
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		s = seen{requestID: RequestID(ctx), traceParent: TraceParent(ctx), traceState: TraceState(ctx)}
		s.remaining, s.hasDeadline = Remaining(ctx)
		if s.hasDeadline {
			<-ctx.Done()
			s.cause = context.Cause(ctx)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return s, rec
}

func mustMiddleware(t *testing.T, opts ...Option) func(http.Handler) http.Handler {
	t.Helper()
	mw, err := Middleware(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return mw
}

func TestMiddlewareRequestID(t *testing.T) {
	mw := mustMiddleware(t, WithRequestIDGenerator(func() string { return "generated" }))
	tests := []struct{ inbound, want string }{
		{"client-id.42_x", "client-id.42_x"},
		{"", "generated"},
		{strings.Repeat("a", 129), "generated"},
		{"evil\r\nSet-Cookie: x", "generated"},
		{"id with spaces", "generated"},
		{`"><script>`, "generated"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		if tt.inbound != "" {
			req.Header[HeaderRequestID] = []string{tt.inbound}
		}
		s, rec := serve(t, mw, req)
		if s.requestID != tt.want {
			t.Errorf("inbound %.20q: handler saw %q, want %q", tt.inbound, s.requestID, tt.want)
		}
		if got := rec.Header().Get(HeaderRequestID); got != tt.want {
			t.Errorf("inbound %.20q: response echoes %q, want %q", tt.inbound, got, tt.want)
		}
	}
}

func TestMiddlewareTraceContext(t *testing.T) {
	mw := mustMiddleware(t)
	tests := []struct{ tp, ts, wantTP, wantTS string }{
		{validTP, "vendor=abc", validTP, "vendor=abc"},
		{"00-zzz", "vendor=abc", "", ""},
		{validTP, "bad\x01state", validTP, ""},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Traceparent", tt.tp)
		req.Header.Set("Tracestate", tt.ts)
		s, _ := serve(t, mw, req)
		if s.traceParent != tt.wantTP || s.traceState != tt.wantTS {
			t.Errorf("traceparent %q tracestate %q: handler saw %q, %q", tt.tp, tt.ts, s.traceParent, s.traceState)
		}
	}
}

// A tracestate split over several header lines is passed on whole, as the comma-joined list it means.
func TestMiddlewareTraceStateLines(t *testing.T) {
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Traceparent", validTP)
	req.Header["Tracestate"] = []string{"congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7"}
	if s, _ := serve(t, mustMiddleware(t), req); s.traceState != "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7" {
		t.Fatalf("tracestate %q, want both lines joined", s.traceState)
	}
}

func TestMiddlewareInboundTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mw := mustMiddleware(t, WithMaxTimeout(2*time.Second))
		tests := []struct {
			header   string
			want     time.Duration
			deadline bool
		}{
			{"500m", 500 * time.Millisecond, true},
			{"1H", 2 * time.Second, true}, // capped
			{"garbage", 0, false},
			{"123456789S", 0, false},
			{"", 0, false},
		}
		for _, tt := range tests {
			req := httptest.NewRequest("GET", "/", nil)
			if tt.header != "" {
				req.Header.Set(HeaderTimeout, tt.header)
			}
			s, _ := serve(t, mw, req)
			if s.hasDeadline != tt.deadline || s.remaining != tt.want {
				t.Errorf("%s %q: deadline %v in %s, want %v in %s", HeaderTimeout, tt.header, s.hasDeadline, s.remaining, tt.deadline, tt.want)
			}
			if tt.deadline && (!errors.Is(s.cause, context.DeadlineExceeded) || !strings.Contains(s.cause.Error(), HeaderTimeout)) {
				t.Errorf("cause %v must name the header and wrap DeadlineExceeded", s.cause)
			}
		}
	})
}

func TestMiddlewareTimeoutHeaderDisabled(t *testing.T) {
	mw := mustMiddleware(t, WithTimeoutHeader(""))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set(HeaderTimeout, "1S")
	if s, _ := serve(t, mw, req); s.hasDeadline {
		t.Fatal("with the timeout header disabled, no deadline is set")
	}
}

func TestMiddlewareLogger(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		Logger(r.Context()).Info("handled")
	})
	mw := mustMiddleware(t, WithBaseLogger(zap.New(core)), WithMux(mux))
	req := httptest.NewRequest("GET", "/orders/7", nil)
	req.Header.Set(HeaderRequestID, "abc")
	req.Header.Set("traceparent", validTP)
	mw(mux).ServeHTTP(httptest.NewRecorder(), req)

	entries := logs.AllUntimed()
	if len(entries) != 1 {
		t.Fatalf("got %d log entries", len(entries))
	}
	want := map[string]any{"request_id": "abc", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "route": "GET /orders/{id}"}
	got := entries[0].ContextMap()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("field %s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

func TestMiddlewareOptionErrors(t *testing.T) {
	tests := []struct {
		opt  Option
		want string
	}{
		{WithMaxTimeout(0), "ctxutil: WithMaxTimeout: timeout must be > 0, got 0s"},
		{WithBaseLogger(nil), "ctxutil: WithBaseLogger: logger must not be nil"},
		{WithRequestIDHeader("Bad Header"), `ctxutil: WithRequestIDHeader: invalid header name "Bad Header"`},
		{WithTimeoutHeader("a:b"), `ctxutil: WithTimeoutHeader: invalid header name "a:b"`},
		{WithRequestIDGenerator(nil), "ctxutil: WithRequestIDGenerator: generator must not be nil"},
	}
	for _, tt := range tests {
		if _, err := Middleware(tt.opt); err == nil || err.Error() != tt.want {
			t.Errorf("Middleware error = %v, want %q", err, tt.want)
		}
	}
}

func TestInject(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := http.Header{}
		Inject(context.Background(), h)
		if len(h) != 0 {
			t.Fatalf("an empty context injects nothing, got %v", h)
		}
		ctx := WithRequestID(context.Background(), "r-1")
		ctx = WithTraceContext(ctx, validTP, "v=1")
		ctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		Inject(ctx, h)
		want := http.Header{
			"X-Request-Id": {"r-1"},
			"Traceparent":  {validTP},
			"Tracestate":   {"v=1"},
			"Grpc-Timeout": {"1500000u"},
		}
		for k, v := range want {
			if h.Get(k) != v[0] {
				t.Errorf("header %s = %q, want %q", k, h.Get(k), v[0])
			}
		}
	})
}

// A service that injects and a service that reads agree: the callee's deadline is no later than the caller's.
func TestInjectThroughMiddleware(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(WithRequestID(context.Background(), "hop"), 800*time.Millisecond)
		defer cancel()
		req := httptest.NewRequest("GET", "/", nil)
		Inject(ctx, req.Header)
		s, _ := serve(t, mustMiddleware(t), req)
		if s.requestID != "hop" || !s.hasDeadline || s.remaining > 800*time.Millisecond {
			t.Fatalf("callee saw %+v", s)
		}
	})
}

func FuzzMiddlewareHeaders(f *testing.F) {
	f.Add("abc", validTP, "a=b", "100m")
	f.Add(strings.Repeat("x", 200), "00-", "\x00", "99999999H")
	mw, err := Middleware(WithMaxTimeout(time.Millisecond))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, tp, ts, timeout string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header[HeaderRequestID] = []string{id}
		req.Header["Traceparent"] = []string{tp}
		req.Header["Tracestate"] = []string{ts}
		req.Header[HeaderTimeout] = []string{timeout}
		var got string
		var left time.Duration
		mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = RequestID(r.Context())
			left, _ = Remaining(r.Context())
		})).ServeHTTP(httptest.NewRecorder(), req)
		if !ValidRequestID(got) {
			t.Fatalf("request ID %q reached the handler", got)
		}
		if left > time.Millisecond {
			t.Fatalf("deadline %s beyond the cap", left)
		}
	})
}
