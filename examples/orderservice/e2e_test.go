package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/sluice-go/sluice/ctxutil"
	"github.com/sluice-go/sluice/internal/testsvc"
)

// The end-to-end tests start the whole service with run, as main does, on a free port, and drive it over HTTP.
// Requests name their client with X-Forwarded-For (the tests' 127.0.0.1 is a trusted proxy), so that each
// check has its own rate-limit quota and the rate-limit check can show two clients side by side.

// testArgs are the flags every end-to-end run uses: a small quota so that a burst is cheap to provoke, and a
// short open timeout so that the breaker closes again quickly.
var testArgs = []string{
	"-addr", "127.0.0.1:0", "-rate", "10", "-burst", "30", "-trusted-proxies", "127.0.0.1/32",
	"-breaker-open-timeout", "300ms", "-request-timeout", "5s", "-shutdown-timeout", "10s", "-log-level", "warn",
}

func TestEndToEndEmbedded(t *testing.T) {
	s := startService(t)
	runSuite(t, s)
}

// TestEndToEndServices runs the same checks against the local PostgreSQL, Redis and NATS, each run in its own
// schema, key namespace and stream, with the rate-limit quota kept in Redis.
func TestEndToEndServices(t *testing.T) {
	dsn, redisAddr, natsURL := testsvc.Postgres(t), testsvc.Redis(t), testsvc.NATS(t)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	ctx := context.Background()

	schema := "orderservice_" + suffix
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE") })
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}

	namespace := "orderservice-test-" + suffix
	t.Cleanup(func() {
		rc := redis.NewClient(&redis.Options{Addr: redisAddr})
		defer rc.Close()
		iter := rc.Scan(ctx, 0, namespace+":*", 1000).Iterator()
		for iter.Next(ctx) {
			rc.Del(ctx, iter.Val())
		}
	})

	topic := "orderstest_" + suffix
	t.Cleanup(func() {
		nc, err := nats.Connect(natsURL)
		if err != nil {
			return
		}
		defer nc.Close()
		if js, err := jetstream.New(nc); err == nil {
			_ = js.DeleteStream(ctx, streamName(topic))
		}
	})

	s := startService(t, "-db", dsn+sep+"search_path="+schema, "-redis", redisAddr, "-nats", natsURL,
		"-namespace", namespace, "-topic", topic, "-shared-limit")
	runSuite(t, s)
}

func runSuite(t *testing.T, s *service) {
	ev := s.subscribe(t)
	t.Run("OrderEventCarriesTraceContext", func(t *testing.T) { testOrderEvent(t, s, ev) })
	t.Run("BadInputIsProblem4xx", func(t *testing.T) { testBadInput(t, s) })
	t.Run("ProfileFromLocalTier", func(t *testing.T) { testProfileCache(t, s) })
	t.Run("InboundTimeoutShortensDownstream", func(t *testing.T) { testInboundTimeout(t, s) })
	t.Run("BurstGets429", func(t *testing.T) { testRateLimit(t, s) })
	t.Run("BrokerOutageDelaysButLosesNothing", func(t *testing.T) { testBrokerOutage(t, s, ev) })
	t.Run("InventoryOutageRecovers", func(t *testing.T) { testInventoryOutage(t, s) })
	t.Run("PaymentOutageOpensBreaker", func(t *testing.T) { testPaymentOutage(t, s) })
	t.Run("ShutdownCompletesInFlight", func(t *testing.T) { testShutdown(t, s) })
}

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func testOrderEvent(t *testing.T, s *service, ev *events) {
	resp, body := s.do(t, "POST", "/orders", `{"user_id": 7, "sku": "sku-1", "quantity": 2}`,
		"X-Forwarded-For", "10.1.0.1", ctxutil.HeaderTraceParent, traceparent, ctxutil.HeaderRequestID, "req-e2e-1")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /orders: %d %s", resp.StatusCode, body)
	}
	var o order
	mustJSON(t, body, &o)
	if o.AmountCents != 2*1999 || o.ChargeID == "" || resp.Header.Get("Location") != "/orders/"+o.ID {
		t.Fatalf("created order %+v, Location %q", o, resp.Header.Get("Location"))
	}
	h := ev.wait(t, o.ID, 30*time.Second)
	if got := h.Get(ctxutil.HeaderTraceParent); !strings.Contains(got, "4bf92f3577b34da6a3ce929d0e0e4736") {
		t.Errorf("event traceparent = %q, want trace 4bf92f3577b34da6a3ce929d0e0e4736", got)
	}
	if got := h.Get(ctxutil.HeaderRequestID); got != "req-e2e-1" {
		t.Errorf("event request ID = %q, want req-e2e-1", got)
	}
	if got := h.Get("Event-Type"); got != "order.created" {
		t.Errorf("event type = %q", got)
	}

	resp, body = s.do(t, "GET", "/orders/"+o.ID, "", "X-Forwarded-For", "10.1.0.1")
	var got order
	mustJSON(t, body, &got)
	if resp.StatusCode != http.StatusOK || got.ID != o.ID || got.Quantity != 2 {
		t.Fatalf("GET /orders/%s: %d %s", o.ID, resp.StatusCode, body)
	}
}

func testBadInput(t *testing.T, s *service) {
	big := `{"user_id": 1, "sku": "` + strings.Repeat("x", maxBodyBytes) + `", "quantity": 1}`
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"malformed JSON", "POST", "/orders", `{"user_id": 1,`, 400},
		{"not JSON", "POST", "/orders", `user_id=1`, 400},
		{"unknown field", "POST", "/orders", `{"user_id": 1, "sku": "sku-1", "quantity": 1, "admin": true}`, 400},
		{"trailing data", "POST", "/orders", `{"user_id": 1, "sku": "sku-1", "quantity": 1} {}`, 400},
		{"wrong type", "POST", "/orders", `{"user_id": 1, "sku": "sku-1", "quantity": "two"}`, 400},
		{"empty body", "POST", "/orders", ``, 400},
		{"oversized body", "POST", "/orders", big, 400},
		{"zero quantity", "POST", "/orders", `{"user_id": 1, "sku": "sku-1", "quantity": 0}`, 422},
		{"negative quantity", "POST", "/orders", `{"user_id": 1, "sku": "sku-1", "quantity": -3}`, 422},
		{"huge quantity", "POST", "/orders", `{"user_id": 1, "sku": "sku-1", "quantity": 1000000}`, 422},
		{"unknown sku", "POST", "/orders", `{"user_id": 1, "sku": "nope", "quantity": 1}`, 422},
		{"bad user id", "POST", "/orders", `{"user_id": -1, "sku": "sku-1", "quantity": 1}`, 422},
		{"unknown user", "POST", "/orders", `{"user_id": 999999, "sku": "sku-1", "quantity": 1}`, 422},
		{"out of stock", "POST", "/orders", `{"user_id": 1, "sku": "sku-rare", "quantity": 2}`, 409},
		{"non-numeric user", "GET", "/users/abc", "", 400},
		{"negative user", "GET", "/users/-4", "", 400},
		{"huge user", "GET", "/users/99999999999999999999", "", 400},
		{"missing user", "GET", "/users/999999", "", 404},
		{"bad order id", "GET", "/orders/1;DROP", "", 400},
		{"missing order", "GET", "/orders/01a20a1e-a825-7e38-998b-4dd408f72c16", "", 404},
		{"unknown route", "GET", "/nope", "", 404},
		{"wrong method", "DELETE", "/users/1", "", 405},
		{"unknown fault target", "PUT", "/admin/faults/dns", `{"outage": true}`, 404},
		{"bad fault rate", "PUT", "/admin/faults/payment", `{"failure_rate": 2}`, 422},
		{"bad fault latency", "PUT", "/admin/faults/payment", `{"latency": "soon"}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := s.do(t, tc.method, tc.path, tc.body, "X-Forwarded-For", "10.2.0.1")
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
			var p problem
			mustJSON(t, body, &p)
			if p.Status != tc.want || p.Title == "" || p.RequestID == "" {
				t.Errorf("problem %+v", p)
			}
			for _, leak := range []string{"sql", "json:", "*", "strconv", "runtime"} {
				if strings.Contains(p.Detail, leak) {
					t.Errorf("detail %q shows internals (%q)", p.Detail, leak)
				}
			}
		})
	}
}

func testProfileCache(t *testing.T, s *service) {
	get := func() {
		resp, body := s.do(t, "GET", "/users/42", "", "X-Forwarded-For", "10.3.0.1")
		var u user
		mustJSON(t, body, &u)
		if resp.StatusCode != http.StatusOK || u.ID != 42 || u.Name != "User 42" {
			t.Fatalf("GET /users/42: %d %s", resp.StatusCode, body)
		}
	}
	get()
	before := s.app.users.Stats()
	get()
	after := s.app.users.Stats()
	if after.LocalHits != before.LocalHits+1 || after.Loads != before.Loads || after.RemoteHits != before.RemoteHits {
		t.Fatalf("second read: local hits %d -> %d, remote hits %d -> %d, loads %d -> %d; want one more local hit only",
			before.LocalHits, after.LocalHits, before.RemoteHits, after.RemoteHits, before.Loads, after.Loads)
	}
	var st status
	_, body := s.do(t, "GET", "/admin/status", "")
	mustJSON(t, body, &st)
	if st.Cache.LocalHits < 1 || st.Cache.HitRatio <= 0 {
		t.Errorf("status cache %+v", st.Cache)
	}
}

func testInboundTimeout(t *testing.T, s *service) {
	order := `{"user_id": 8, "sku": "sku-3", "quantity": 1}`
	// 1.5s leaves a loaded machine time to reach the gateway, and is still well under the 5s server budget.
	resp, body := s.do(t, "POST", "/orders", order, "X-Forwarded-For", "10.4.0.1", ctxutil.HeaderTimeout, "1500m")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /orders: %d %s", resp.StatusCode, body)
	}
	if got := s.app.gateway.LastDeadline(); got <= 0 || got > 1500*time.Millisecond {
		t.Fatalf("with Grpc-Timeout 1500m the gateway was given %s, want (0, 1.5s]", got)
	}
	resp, body = s.do(t, "POST", "/orders", order, "X-Forwarded-For", "10.4.0.1")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /orders: %d %s", resp.StatusCode, body)
	}
	if got := s.app.gateway.LastDeadline(); got <= 1500*time.Millisecond || got > 5*time.Second {
		t.Fatalf("without an inbound timeout the gateway was given %s, want the 5s server budget less time spent", got)
	}

	// A deadline the gateway cannot meet ends the request with 504 when it passes, not when the gateway answers:
	// the gateway's 20s is far beyond both the 300ms deadline and any delay of a loaded machine.
	s.setFaults(t, "payment", `{"latency": "20s"}`)
	defer s.setFaults(t, "payment", `{}`)
	start := time.Now()
	resp, body = s.do(t, "POST", "/orders", order, "X-Forwarded-For", "10.4.0.1", ctxutil.HeaderTimeout, "300m")
	if took := time.Since(start); resp.StatusCode != http.StatusGatewayTimeout || took > 10*time.Second {
		t.Fatalf("a 300ms deadline against a 20s gateway: %d after %s: %s", resp.StatusCode, took, body)
	}
}

func testRateLimit(t *testing.T, s *service) {
	var denied *http.Response
	var deniedBody []byte
	allowed := 0
	start := time.Now()
	// The bucket refills 10 a second, so the loop is long enough to outrun it on a slow machine too.
	for range 1000 {
		resp, body := s.do(t, "GET", "/users/1", "", "X-Forwarded-For", "10.5.0.1")
		if resp.StatusCode == http.StatusTooManyRequests {
			denied, deniedBody = resp, body
			break
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		allowed++
	}
	if denied == nil {
		t.Fatal("1000 requests in a burst were all allowed; want 429 after about 30")
	}
	// The bucket starts with the burst of 30 and refills 10 a second while the burst is sent.
	if most := 30 + int(time.Since(start).Seconds()*10) + 1; allowed < 30 || allowed > most {
		t.Errorf("%d requests allowed before the first 429, want the burst of 30 and at most %d", allowed, most)
	}
	h := denied.Header
	if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q", h.Get("Retry-After"))
	}
	if got := h.Get("RateLimit-Policy"); got != `"default";q=30;w=1` {
		t.Errorf("RateLimit-Policy %q", got)
	}
	if got := h.Get("RateLimit"); !strings.HasPrefix(got, `"default";r=0;t=`) {
		t.Errorf("RateLimit %q", got)
	}
	if ct := h.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("429 Content-Type %q: %s", ct, deniedBody)
	}
	// Another client is still served, and operators are never limited.
	if resp, body := s.do(t, "GET", "/users/1", "", "X-Forwarded-For", "10.5.0.2"); resp.StatusCode != http.StatusOK {
		t.Errorf("another client: %d %s", resp.StatusCode, body)
	}
	if resp, _ := s.do(t, "GET", "/healthz", "", "X-Forwarded-For", "10.5.0.1"); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz from the limited client: %d", resp.StatusCode)
	}
	if got := counterValue(s.app.metrics.limiter.WithLabelValues("denied")); got < 1 {
		t.Errorf("denied decisions metric = %v", got)
	}
}

func testBrokerOutage(t *testing.T, s *service, ev *events) {
	s.setFaults(t, "broker", `{"outage": true}`)
	failedBefore := counterValue(s.app.metrics.outboxEvents.WithLabelValues("failed"))
	var ids []string
	for i := range 3 {
		resp, body := s.do(t, "POST", "/orders", `{"user_id": 9, "sku": "sku-2", "quantity": 1}`,
			"X-Forwarded-For", fmt.Sprintf("10.6.0.%d", i+1))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST /orders during a broker outage: %d %s", resp.StatusCode, body)
		}
		var o order
		mustJSON(t, body, &o)
		ids = append(ids, o.ID)
	}
	// The relay tries, fails, and keeps the events.
	poll(t, 30*time.Second, "the relay to fail publishing", func() bool {
		return counterValue(s.app.metrics.outboxEvents.WithLabelValues("failed")) > failedBefore
	})
	st, err := s.app.store.relay.Stats(context.Background())
	if err != nil || st.Pending < 3 {
		t.Fatalf("outbox during the outage: %+v, %v; want 3 pending", st, err)
	}
	for _, id := range ids {
		if ev.has(id) {
			t.Fatalf("event %s delivered during the outage", id)
		}
	}
	s.setFaults(t, "broker", `{}`)
	for _, id := range ids {
		ev.wait(t, id, 30*time.Second)
	}
	poll(t, 30*time.Second, "the outbox to drain", func() bool {
		st, err := s.app.store.relay.Stats(context.Background())
		return err == nil && st.Pending == 0 && st.DeadLetters == 0
	})
}

func testInventoryOutage(t *testing.T, s *service) {
	order := `{"user_id": 12, "sku": "sku-1", "quantity": 1}`
	created := s.app.inventory.pool.Stats().Created
	// The outage drops every connection as soon as it carries a request: the pool must replace them.
	s.setFaults(t, "inventory", `{"outage": true}`)
	if resp, body := s.do(t, "POST", "/orders", order, "X-Forwarded-For", "10.9.0.1"); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("POST /orders during an inventory outage: %d %s, want 502", resp.StatusCode, body)
	}
	s.setFaults(t, "inventory", `{}`)
	if resp, body := s.do(t, "POST", "/orders", order, "X-Forwarded-For", "10.9.0.1"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /orders after the inventory outage: %d %s", resp.StatusCode, body)
	}
	if got := s.app.inventory.pool.Stats().Created; got <= created {
		t.Errorf("the pool created no connection to replace the broken one (%d before, %d after)", created, got)
	}
}

func testPaymentOutage(t *testing.T, s *service) {
	// Every charge fails after 150ms: without the breaker each request would wait that long for its failure.
	s.setFaults(t, "payment", `{"failure_rate": 1, "latency": "150ms"}`)
	opened := false
	for i := range 40 {
		start, calls := time.Now(), s.app.gateway.Calls()
		resp, body := s.do(t, "POST", "/orders", `{"user_id": 10, "sku": "sku-3", "quantity": 1}`,
			"X-Forwarded-For", fmt.Sprintf("10.7.0.%d", i+1))
		took := time.Since(start)
		switch resp.StatusCode {
		case http.StatusBadGateway: // the gateway failed; the breaker counts it
			if took < 150*time.Millisecond {
				t.Fatalf("a failing charge took %s, less than the injected 150ms", took)
			}
			continue
		case http.StatusServiceUnavailable:
			if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("503 without a Retry-After: %q", resp.Header.Get("Retry-After"))
			}
			// Failing fast means not waiting for the gateway at all, which a loaded machine cannot blur the way
			// it can blur a measured duration.
			if got := s.app.gateway.Calls(); got != calls {
				t.Errorf("a request refused by the open breaker reached the gateway (%d calls, then %d)", calls, got)
			}
			opened = true
		default:
			t.Fatalf("status %d during a payment outage: %s", resp.StatusCode, body)
		}
		break
	}
	if !opened {
		t.Fatal("the breaker never opened")
	}
	if got := s.status(t).Breaker.State; got != "open" {
		t.Errorf("breaker state %q after the 503, want open", got)
	}
	// The instance stays ready: an open breaker is reported, not a reason to leave the rotation.
	resp, body := s.do(t, "GET", "/readyz", "")
	var ready struct {
		Ready  bool              `json:"ready"`
		Checks map[string]string `json:"checks"`
	}
	mustJSON(t, body, &ready)
	if resp.StatusCode != http.StatusOK || !ready.Ready || !strings.HasPrefix(ready.Checks["payment"], "degraded") ||
		ready.Checks["database"] != "ok" {
		t.Errorf("/readyz with the breaker open: %d %s", resp.StatusCode, body)
	}
	if stock := s.app.stock.Stock("sku-3"); stock != 1_000_000-2 {
		t.Errorf("sku-3 stock %d: reservations of failed orders were not released (want %d)", stock, 1_000_000-2)
	}

	s.setFaults(t, "payment", `{}`)
	i := 0
	poll(t, 30*time.Second, "an order to succeed after the outage", func() bool {
		i++
		resp, _ := s.do(t, "POST", "/orders", `{"user_id": 10, "sku": "sku-3", "quantity": 1}`,
			"X-Forwarded-For", fmt.Sprintf("10.8.%d.%d", i/250, i%250+1))
		return resp.StatusCode == http.StatusCreated
	})
	poll(t, 30*time.Second, "the breaker to close", func() bool {
		if s.status(t).Breaker.State == "closed" {
			return true
		}
		s.do(t, "POST", "/orders", `{"user_id": 10, "sku": "sku-3", "quantity": 1}`, "X-Forwarded-For", "10.8.1.1")
		return false
	})
	if got := counterValue(s.app.metrics.breakerTrans.WithLabelValues("open", "half-open")); got < 1 {
		t.Errorf("breaker transitions open -> half-open counted %v times", got)
	}
}

func testShutdown(t *testing.T, s *service) {
	s.setFaults(t, "payment", `{"latency": "500ms"}`)
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", s.base+"/orders", strings.NewReader(`{"user_id": 11, "sku": "sku-1", "quantity": 1}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.client.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	poll(t, 30*time.Second, "the charge to be in flight", func() bool { return s.app.gateway.InFlight() > 0 })
	s.cancel()
	r := <-done
	if r.err != nil || r.status != http.StatusCreated {
		t.Fatalf("in-flight request during shutdown: %d, %v; want 201", r.status, r.err)
	}
	if err := s.wait(); err != nil {
		t.Fatalf("run returned %v after a graceful shutdown", err)
	}
	if _, err := http.Get(s.base + "/healthz"); err == nil {
		t.Error("the server still accepts connections after shutdown")
	}
}

// With -drain-delay, a shutting-down service keeps serving and fails /readyz for the delay before it stops
// accepting, so that a load balancer sees the 503 and stops sending first.
func TestShutdownFailsReadinessFirst(t *testing.T) {
	s := startService(t, "-drain-delay", "3s")
	if resp, _ := s.do(t, "GET", "/readyz", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz before shutdown: %d", resp.StatusCode)
	}
	s.cancel()
	poll(t, 30*time.Second, "/readyz to fail while the server still answers", func() bool {
		resp, err := s.client.Get(s.base + "/readyz")
		if err != nil {
			t.Fatalf("the server stopped accepting before /readyz failed: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	if err := s.wait(); err != nil {
		t.Fatalf("run returned %v", err)
	}
}

// service is a running instance of the service.
type service struct {
	app    *app
	base   string
	client *http.Client
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func startService(t *testing.T, args ...string) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{cancel: cancel, done: make(chan error, 1),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}}
	ready := make(chan *app, 1)
	logs := &syncBuffer{}
	go func() {
		s.done <- run(ctx, append(append([]string{}, testArgs...), args...), func(string) string { return "" },
			logs, logs, func(a *app) { ready <- a })
	}()
	select {
	case s.app = <-ready:
	case err := <-s.done:
		cancel()
		t.Fatalf("run: %v\n%s", err, logs.String())
	}
	s.base = "http://" + s.app.addr
	t.Cleanup(func() {
		if err := s.wait(); err != nil {
			t.Errorf("run: %v", err)
		}
		s.client.CloseIdleConnections()
		if t.Failed() {
			t.Logf("service log:\n%s", logs.String())
		}
	})
	poll(t, 30*time.Second, "/healthz", func() bool {
		resp, err := s.client.Get(s.base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return s
}

// wait stops the service, if not already, and returns run's error.
func (s *service) wait() error {
	s.once.Do(func() {
		s.cancel()
		s.err = <-s.done
	})
	return s.err
}

// do sends a request with the given header pairs and returns the response with its body read.
func (s *service) do(t *testing.T, method, path, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func (s *service) setFaults(t *testing.T, dep, settings string) {
	t.Helper()
	if resp, body := s.do(t, "PUT", "/admin/faults/"+dep, settings); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /admin/faults/%s: %d %s", dep, resp.StatusCode, body)
	}
}

func (s *service) status(t *testing.T) status {
	t.Helper()
	var st status
	_, body := s.do(t, "GET", "/admin/status", "")
	mustJSON(t, body, &st)
	return st
}

// events records the headers of the order events that reach the broker, by message ID (the order ID).
type events struct {
	mu   sync.Mutex
	byID map[string]nats.Header
}

// subscribe consumes the service's order stream from the start until the test ends.
func (s *service) subscribe(t *testing.T) *events {
	t.Helper()
	nc, err := nats.Connect(s.app.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.OrderedConsumer(context.Background(), s.app.stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{byID: map[string]nats.Header{}}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		ev.mu.Lock()
		ev.byID[m.Headers().Get(jetstream.MsgIDHeader)] = m.Headers()
		ev.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return ev
}

func (e *events) has(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.byID[id]
	return ok
}

func (e *events) wait(t *testing.T, id string, timeout time.Duration) nats.Header {
	t.Helper()
	poll(t, timeout, "event "+id, func() bool { return e.has(id) })
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.byID[id]
}

// poll calls cond every 10ms until it holds, failing the test after timeout.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
}

// syncBuffer is a bytes.Buffer safe for the service's log writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// counterValue reads a counter's value.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
