package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-go/sluice/ctxutil"
)

// FuzzHandlers sends arbitrary requests through the whole handler chain of a service on embedded defaults and
// checks that bad input is the client's problem: never a 500, always a problem body that shows no internals.
// The admin endpoints are left out: fault injection would make every later request fail or wait by design.
func FuzzHandlers(f *testing.F) {
	seeds := []struct {
		method              uint8
		path, body, ct, hdr string
	}{
		{1, "/orders", `{"user_id": 7, "sku": "sku-1", "quantity": 2}`, "application/json", "req-1"},
		{1, "/orders", `{"user_id": 7, "sku": "sku-rare", "quantity": 5}`, "application/json", "500m"},
		{1, "/orders", `{"user_id": 1e400, "sku": 3}`, "application/json", ""},
		{1, "/orders", `{"user_id": 9223372036854775807, "sku": "sku-1", "quantity": 1}`, "", "0n"},
		{1, "/orders", "{\"sku\": \"\xff\xfe\"}", "application/json; charset=utf-8", "\x00"},
		{1, "/orders", `[1, 2]`, "text/plain", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{0, "/orders/01a20a1e-a825-7e38-998b-4dd408f72c16", "", "", ""},
		{0, "/orders/%00", "", "", ""},
		{0, "/orders/../users/1", "", "", ""},
		{0, "/users/0x10", "", "", ""},
		{0, "/users/1", "", "", "99999999H"},
		{2, "/users/1", "{}", "", ""},
		{0, "/readyz", "", "", ""},
		{0, "//orders", "", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.body, s.ct, s.hdr)
	}

	logger, flush, err := newLogger(io.Discard, "error")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(flush)
	cfg, err := parseConfig([]string{"-rate", "1000000000", "-burst", "1000000000"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		f.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, logger)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		if err := a.close(context.Background()); err != nil {
			f.Error(err)
		}
	})
	handler, err := a.routes()
	if err != nil {
		f.Fatal(err)
	}
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}

	f.Fuzz(func(t *testing.T, method uint8, path, body, ct, hdr string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		if strings.Contains(path, "/admin") {
			t.Skip("fault injection is meant to make requests fail")
		}
		req, err := http.NewRequest(methods[int(method)%len(methods)], "http://orderservice.test"+path, strings.NewReader(body))
		if err != nil {
			t.Skip("not a request a client can send")
		}
		req.RemoteAddr = "192.0.2.1:1234"
		req.Header["Content-Type"] = []string{ct}
		for _, h := range []string{ctxutil.HeaderRequestID, ctxutil.HeaderTimeout, "Traceparent", "Tracestate"} {
			req.Header[h] = []string{hdr}
		}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)

		if w.Code == http.StatusInternalServerError {
			t.Fatalf("%s %q %q: 500: %s", req.Method, path, body, w.Body)
		}
		if w.Code < 400 || req.Method == "HEAD" {
			return
		}
		if got := w.Header().Get("Content-Type"); got != "application/problem+json" {
			t.Fatalf("%s %q: %d with Content-Type %q", req.Method, path, w.Code, got)
		}
		var p problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != w.Code {
			t.Fatalf("%s %q: %d with problem %s (%v)", req.Method, path, w.Code, w.Body, err)
		}
		for _, leak := range []string{"sql", "json:", "strconv", "runtime", "goroutine", "panic"} {
			if strings.Contains(p.Detail, leak) {
				t.Fatalf("%s %q: detail %q shows internals (%q)", req.Method, path, p.Detail, leak)
			}
		}
	})
}
