package main

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sluice-go/sluice/breaker"
	"github.com/sluice-go/sluice/cache"
	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/pool"
)

// metrics holds the service's Prometheus instruments, on a registry of its own so that tests can start
// several services in one process. The Sluice packages know nothing of Prometheus: they report through hooks
// (breaker.WithOnStateChange, pool.WithHook, outbox.WithHook) and Stats methods, which are wired here.
type metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec   // route, code
	latency       *prometheus.HistogramVec // route
	limiter       *prometheus.CounterVec   // decision
	allowed       prometheus.Counter       // the limiter's children, resolved once for the hot path
	denied        prometheus.Counter
	limitErrors   prometheus.Counter
	breakerState  prometheus.Gauge
	breakerTrans  *prometheus.CounterVec // from, to
	poolWait      prometheus.Histogram
	outboxPending prometheus.Gauge
	outboxOldest  prometheus.Gauge
	outboxEvents  *prometheus.CounterVec // result
	outboxLatency prometheus.Histogram
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		limiter: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ratelimit_decisions_total", Help: "Rate limiter decisions: allowed, denied or error.",
		}, []string{"decision"}),
		breakerState: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "breaker_state", Help: "Payment breaker state: 0 closed, 1 open, 2 half-open, 3 forced open, 4 disabled.",
		}),
		breakerTrans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breaker_transitions_total", Help: "Payment breaker state transitions.",
		}, []string{"from", "to"}),
		poolWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pool_acquire_wait_seconds", Help: "How long inventory connection acquisitions waited, when they waited.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
		}),
		outboxPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "outbox_pending_messages", Help: "Outbox messages not yet published, as last reported by the relay.",
		}),
		outboxOldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "outbox_oldest_pending_age_seconds", Help: "Age of the oldest unpublished outbox message.",
		}),
		outboxEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outbox_messages_total", Help: "Outbox publish results: published, failed, dead_lettered.",
		}, []string{"result"}),
		outboxLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "outbox_batch_duration_seconds", Help: "Time from claiming an outbox batch to completing it.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
		}),
	}
	m.allowed, m.denied, m.limitErrors = m.limiter.WithLabelValues("allowed"), m.limiter.WithLabelValues("denied"),
		m.limiter.WithLabelValues("error")
	reg.MustRegister(m.requests, m.latency, m.limiter, m.breakerState, m.breakerTrans, m.poolWait,
		m.outboxPending, m.outboxOldest, m.outboxEvents, m.outboxLatency)
	return m
}

func (m *metrics) observeRequest(route string, status int, took time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(took.Seconds())
}

// breakerChanged is the payment breaker's WithOnStateChange hook.
func (m *metrics) breakerChanged(t breaker.Transition) {
	m.breakerState.Set(float64(t.To))
	m.breakerTrans.WithLabelValues(t.From.String(), t.To.String()).Inc()
}

// poolEvent is the inventory pool's WithHook hook; the gauges and counters come from pool.Stats.
func (m *metrics) poolEvent(e pool.Event) {
	if e.Kind == pool.EventAcquired && e.Duration > 0 {
		m.poolWait.Observe(e.Duration.Seconds())
	}
}

// registerPool exposes the inventory pool's Stats. GaugeFunc and CounterFunc read them at scrape time, so the
// pool's hot path pays nothing for them.
func (m *metrics) registerPool(stats func() pool.Stats) {
	gauge := func(name, help string, f func(pool.Stats) int) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(f(stats())) }))
	}
	counter := func(name, help string, f func(pool.Stats) int64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(stats())) }))
	}
	gauge("pool_connections", "Inventory connections that exist.", func(s pool.Stats) int { return s.Total })
	gauge("pool_connections_idle", "Inventory connections ready to lend.", func(s pool.Stats) int { return s.Idle })
	gauge("pool_connections_in_use", "Inventory connections lent.", func(s pool.Stats) int { return s.InUse })
	gauge("pool_waiting", "Requests waiting for an inventory connection.", func(s pool.Stats) int { return s.Waiting })
	counter("pool_acquires_total", "Successful inventory connection acquisitions.", func(s pool.Stats) int64 { return s.Acquires })
	counter("pool_waits_total", "Acquisitions that had to wait.", func(s pool.Stats) int64 { return s.Waits })
	counter("pool_timeouts_total", "Acquisitions whose deadline passed while waiting.", func(s pool.Stats) int64 { return s.TimedOut })
	counter("pool_created_total", "Inventory connections dialled.", func(s pool.Stats) int64 { return s.Created })
	counter("pool_create_failed_total", "Inventory dials that failed.", func(s pool.Stats) int64 { return s.CreateFailed })
}

// registerCache exposes the profile cache's hits and misses per tier.
func (m *metrics) registerCache(stats func() cache.Stats) {
	tiers := []struct {
		tier, result string
		f            func(cache.Stats) uint64
	}{
		{"local", "hit", func(s cache.Stats) uint64 { return s.LocalHits }},
		{"local", "miss", func(s cache.Stats) uint64 { return s.LocalMisses }},
		{"remote", "hit", func(s cache.Stats) uint64 { return s.RemoteHits }},
		{"remote", "miss", func(s cache.Stats) uint64 { return s.RemoteMisses }},
		{"remote", "error", func(s cache.Stats) uint64 { return s.RemoteErrors }},
		{"loader", "load", func(s cache.Stats) uint64 { return s.Loads }},
		{"loader", "error", func(s cache.Stats) uint64 { return s.LoadErrors }},
	}
	for _, t := range tiers {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "cache_requests_total", Help: "Profile cache reads by tier and result.",
			ConstLabels: prometheus.Labels{"tier": t.tier, "result": t.result},
		}, func() float64 { return float64(t.f(stats())) }))
	}
}

// outboxEvent is the relay's WithHook hook.
func (m *metrics) outboxEvent(e outbox.Event) {
	switch e.Kind {
	case outbox.EventPublished:
		m.outboxEvents.WithLabelValues("published").Add(float64(e.Count))
	case outbox.EventFailed:
		m.outboxEvents.WithLabelValues("failed").Inc()
	case outbox.EventDeadLettered:
		m.outboxEvents.WithLabelValues("dead_lettered").Inc()
	case outbox.EventBatch:
		m.outboxLatency.Observe(e.Latency.Seconds())
	case outbox.EventStats:
		m.outboxPending.Set(float64(e.Pending))
		m.outboxOldest.Set(e.OldestAge.Seconds())
	}
}
