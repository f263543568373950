package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluice-go/sluice/breaker"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(config) bool
		wantErr string
	}{
		{"defaults", nil, nil, func(c config) bool {
			return c.Addr == ":8080" && c.DB == "" && c.RatePerClient == 20 && c.RequestTimeout == 2*time.Second
		}, ""},
		{"environment", nil, map[string]string{"ORDERSVC_ADDR": ":9090", "ORDERSVC_PAYMENT_LATENCY": "50ms"},
			func(c config) bool {
				return c.Addr == ":9090" && c.PaymentFaults.Latency == Duration(50*time.Millisecond)
			}, ""},
		{"flag beats environment", []string{"-addr", ":7070"}, map[string]string{"ORDERSVC_ADDR": ":9090"},
			func(c config) bool { return c.Addr == ":7070" }, ""},
		{"help", []string{"-help"}, nil, nil, flag.ErrHelp.Error()},
		{"bad env", nil, map[string]string{"ORDERSVC_RATE": "lots"}, nil, "ORDERSVC_RATE"},
		{"bad rate", []string{"-rate", "0"}, nil, nil, "-rate must be >= 1, got 0"},
		{"bad db", []string{"-db", "mysql://x"}, nil, nil, "-db must be a postgres:// URL"},
		{"bad db hides its password", []string{"-db", "mysql://root:s3cret@db"}, nil, nil, `got one starting "mysql"`},
		{"bad failure rate", []string{"-payment-failure-rate", "1.5"}, nil, nil, "failure_rate must be in [0, 1]"},
		{"negative latency", []string{"-inventory-latency", "-1s"}, nil, nil, "must be >= 0"},
		{"wildcard topic", []string{"-topic", "orders.>"}, nil, nil, "-topic must be"},
		{"stray argument", []string{"serve"}, nil, nil, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if tc.wantErr == flag.ErrHelp.Error() && !errors.Is(err, flag.ErrHelp) {
					t.Fatalf("-help gave %v, want flag.ErrHelp (exit 0)", err)
				}
				return
			}
			if err != nil || !tc.check(c) {
				t.Fatalf("config %+v, error %v", c, err)
			}
		})
	}
}

// The -help text names every flag with its type, so that a reader knows what to pass.
func TestHelpText(t *testing.T) {
	var out strings.Builder
	if _, err := parseConfig([]string{"-help"}, func(string) string { return "" }, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-help: %v", err)
	}
	help := out.String()
	for _, want := range []string{"Usage: orderservice", "ORDERSVC_", "-addr string", "-payment-latency duration",
		"-inventory-latency duration", "-request-timeout duration"} {
		if !strings.Contains(help, want) {
			t.Errorf("-help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, " value\n") {
		t.Errorf("-help shows a flag of type \"value\":\n%s", help)
	}
}

// FuzzDecodeJSON checks that no body makes the decoder panic or show an internal error message, and that
// what it accepts is exactly one JSON object.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"user_id": 1, "sku": "sku-1", "quantity": 2}`, `{"user_id": 1,`, `[]`, `{} {}`,
		`{"quantity": "2"}`, `{"x": 1}`, `null`, ``, `{"user_id": 1e400}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/orders", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var req createOrderRequest
		err := decodeJSON(httptest.NewRecorder(), r, &req)
		if err != nil && strings.Contains(err.Error(), "json: ") {
			t.Fatalf("error shows the decoder's message: %v", err)
		}
	})
}

// A panicking handler still gets its access log line and its count, as a 500 on its route.
func TestAccessLogCountsPanics(t *testing.T) {
	logger, flush, err := newLogger(io.Discard, "info")
	if err != nil {
		t.Fatal(err)
	}
	defer flush()
	m := newMetrics()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	h := chain(mux, recoverPanics(logger), accessLog(m, mux))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/boom", nil))
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", w.Code)
	}
	if got := counterValue(m.requests.WithLabelValues("GET /boom", "500")); got != 1 {
		t.Fatalf("http_requests_total{route=\"GET /boom\",code=\"500\"} = %v, want 1", got)
	}
}

func TestRecoverPanics(t *testing.T) {
	logger, flush, err := newLogger(io.Discard, "info")
	if err != nil {
		t.Fatal(err)
	}
	defer flush()
	h := chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom: secret") }), recoverPanics(logger))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "secret") ||
		w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("after a panic: %d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
}

// A gateway that ran out of the time it was given answers when our own deadline is due; whichever comes first,
// the client reports a deadline (504), never a failed gateway (502).
func TestChargeOutOfTime(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
	}{{"gateway 504", http.StatusGatewayTimeout}, {"empty 200", http.StatusOK}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.status == http.StatusOK {
					cancel() // our deadline passed while the answer was on its way
				}
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			p, err := newPaymentClient(srv.URL, time.Second, func(breaker.Transition) {})
			if err != nil {
				t.Fatal(err)
			}
			defer p.http.CloseIdleConnections()
			_, err = p.Charge(ctx, "o-1", 100)
			if status, _ := classify(err); status != http.StatusGatewayTimeout && status != http.StatusServiceUnavailable {
				t.Fatalf("Charge error %v classified as %d, want a deadline or cancellation", err, status)
			}
		})
	}
}
