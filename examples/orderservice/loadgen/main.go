// Command loadgen drives the order service with a mix of order creations and profile reads at a target rate,
// and prints a line per second: requests per second by status class, latency p50 and p99, and the service's
// breaker state and cache hit ratio read from its /admin/status endpoint.
//
//	go run ./examples/orderservice/loadgen -rate 500 -clients 32 -orders 0.2
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluice-go/sluice/ratelimit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type config struct {
	url      string
	clients  int
	rate     int
	orders   float64
	users    int
	duration time.Duration
	xff      bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.url, "url", "http://localhost:8080", "base URL of the order service")
	fs.IntVar(&c.clients, "clients", 16, "concurrent clients (connections)")
	fs.IntVar(&c.rate, "rate", 200, "target requests per second over all clients; 0 for as fast as possible")
	fs.Float64Var(&c.orders, "orders", 0.2, "share of requests that create an order; the rest read a profile")
	fs.IntVar(&c.users, "users", 1000, "profiles read, skewed: a few are hot, most are cold")
	fs.DurationVar(&c.duration, "duration", 0, "how long to run; 0 until interrupted")
	fs.BoolVar(&c.xff, "xff", false, "send each client's own X-Forwarded-For address (needs -trusted-proxies on the service), so that each gets its own rate-limit quota")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.clients < 1 || c.rate < 0 || c.orders < 0 || c.orders > 1 || c.users < 1 {
		return errors.New("-clients and -users must be >= 1, -rate >= 0 and -orders in [0, 1]")
	}
	if c.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}

	// The load is paced by Sluice's own token bucket, shared by the clients.
	var pace ratelimit.Limiter
	if c.rate > 0 {
		var err error
		if pace, err = ratelimit.NewTokenBucket(ratelimit.PerSecond(c.rate), ratelimit.WithBurst(max(1, c.rate/100))); err != nil {
			return err
		}
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: c.clients}}
	defer client.CloseIdleConnections()
	rec := &recorder{}

	var wg sync.WaitGroup
	for i := range c.clients {
		wg.Go(func() { c.client(ctx, i, client, pace, rec) })
	}
	fmt.Fprintf(stdout, "loadgen: %d clients, target %d req/s, %.0f%% orders, against %s\n", c.clients, c.rate, c.orders*100, c.url)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	all := &window{}
	start := time.Now()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			w := rec.take()
			all.merge(w)
			fmt.Fprintf(stdout, "%s  %s  %s\n", time.Now().Format("15:04:05"), w.line(time.Second), serviceStatus(client, c.url))
		}
	}
	wg.Wait()
	all.merge(rec.take())
	fmt.Fprintf(stdout, "total  %s\n", all.line(time.Since(start)))
	return nil
}

// client sends requests until ctx ends.
func (c config) client(ctx context.Context, id int, hc *http.Client, pace ratelimit.Limiter, rec *recorder) {
	rng := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(c.users-1))
	xff := fmt.Sprintf("10.%d.%d.%d", 100+id/65536%100, id/256%256, id%256)
	for ctx.Err() == nil {
		if pace != nil && pace.Wait(ctx) != nil {
			return
		}
		var req *http.Request
		if rng.Float64() < c.orders {
			body := fmt.Sprintf(`{"user_id": %d, "sku": "sku-%d", "quantity": %d}`, 1+rng.IntN(c.users), 1+rng.IntN(3), 1+rng.IntN(3))
			req, _ = http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/orders", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		} else {
			req, _ = http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/users/%d", c.url, 1+zipf.Uint64()), nil)
		}
		if c.xff {
			req.Header.Set("X-Forwarded-For", xff)
		}
		start := time.Now()
		resp, err := hc.Do(req)
		took := time.Since(start)
		if ctx.Err() != nil {
			return
		}
		status := 0
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}
		rec.add(status, took)
	}
}

// recorder collects the results of the current second.
type recorder struct {
	mu sync.Mutex
	w  window
}

func (r *recorder) add(status int, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	class := status / 100
	if class >= len(r.w.byClass) {
		class = 0 // a status no HTTP class has (net/http accepts 100 to 999) counts with the errors
	}
	r.w.byClass[class]++
	r.w.lat = append(r.w.lat, took)
	if status/100 == 5 {
		r.w.lat5xx = append(r.w.lat5xx, took)
	}
}

func (r *recorder) take() *window {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.w
	r.w = window{}
	return &w
}

// window is the results of a period: counts by status class (0 for transport errors) and latencies.
type window struct {
	byClass [6]int
	lat     []time.Duration
	lat5xx  []time.Duration // the latencies of 5xx answers alone: fast while the breaker is open
}

func (w *window) merge(o *window) {
	for i, n := range o.byClass {
		w.byClass[i] += n
	}
	w.lat = append(w.lat, o.lat...)
	w.lat5xx = append(w.lat5xx, o.lat5xx...)
}

// quantile returns the q-quantile of sorted durations, 0 when there are none.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))].Round(10 * time.Microsecond)
}

func (w *window) line(period time.Duration) string {
	slices.Sort(w.lat)
	slices.Sort(w.lat5xx)
	return fmt.Sprintf("%6.0f req/s  2xx %6d  4xx %5d  5xx %5d  err %4d  p50 %8s  p99 %8s  5xx p99 %8s",
		float64(len(w.lat))/period.Seconds(), w.byClass[2], w.byClass[4], w.byClass[5], w.byClass[0],
		quantile(w.lat, 0.50), quantile(w.lat, 0.99), quantile(w.lat5xx, 0.99))
}

// serviceStatus reads the breaker state and cache hit ratio from the service.
func serviceStatus(hc *http.Client, base string) string {
	resp, err := hc.Get(base + "/admin/status")
	if err != nil {
		return "status: unreachable"
	}
	defer resp.Body.Close()
	var s struct {
		Breaker struct {
			State string `json:"state"`
		} `json:"breaker"`
		Cache struct {
			HitRatio float64 `json:"hit_ratio"`
		} `json:"cache"`
		Outbox struct {
			Pending int64 `json:"pending"`
		} `json:"outbox"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return "status: unreadable"
	}
	return fmt.Sprintf("breaker %-9s cache hit %5.1f%%  outbox pending %d", s.Breaker.State, 100*s.Cache.HitRatio, s.Outbox.Pending)
}
