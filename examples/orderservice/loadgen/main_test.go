package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun drives a stand-in of the service for a little over a second and checks the mix, the pacing and the
// report lines.
func TestRun(t *testing.T) {
	var orders, users, xff atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Forwarded-For") != "" {
			xff.Add(1)
		}
		switch {
		case r.Method == "POST" && r.URL.Path == "/orders":
			orders.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
		case strings.HasPrefix(r.URL.Path, "/users/"):
			users.Add(1)
		case r.URL.Path == "/admin/status":
			_, _ = io.WriteString(w, `{"breaker": {"state": "open"}, "cache": {"hit_ratio": 0.5}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()

	var out bytes.Buffer
	err := run(context.Background(), []string{"-url", srv.URL, "-rate", "100", "-clients", "4", "-orders", "0.5",
		"-duration", "1500ms", "-xff"}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	total := orders.Load() + users.Load()
	if total < 50 || total > 200 { // paced at 100 per second: never above, and not far below
		t.Errorf("%d requests in 1.5s at 100 req/s", total)
	}
	if orders.Load() == 0 || users.Load() == 0 || xff.Load() != total {
		t.Errorf("orders %d, users %d, with X-Forwarded-For %d of %d", orders.Load(), users.Load(), xff.Load(), total)
	}
	s := out.String()
	for _, want := range []string{"req/s", "breaker open", "cache hit  50.0%", "\ntotal "} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-clients", "0"}, {"-orders", "2"}, {"-rate", "-1"}, {"-nope"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

// A server answering with a status outside the five classes (net/http accepts up to 999) is counted as an
// error, not a crash.
func TestRecorderOddStatus(t *testing.T) {
	var r recorder
	r.add(999, time.Millisecond)
	r.add(200, time.Millisecond)
	if w := r.take(); w.byClass[0] != 1 || w.byClass[2] != 1 {
		t.Fatalf("counts by class %v, want one error and one 2xx", w.byClass)
	}
}
