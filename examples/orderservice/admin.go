package main

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/sluice-go/sluice/breaker"
	"github.com/sluice-go/sluice/ctxutil"
)

// handleHealthz is the liveness check: the process serves HTTP. It checks no dependency, so that a database
// outage never makes an orchestrator restart every instance at once.
func (a *app) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz is the readiness check: the database answers and the service is not shutting down. Degraded
// dependencies that the service works around (an open breaker, an unreachable Redis, an outbox backlog) are
// reported but keep the instance in rotation: taking it out would not help.
func (a *app) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	status, checks := http.StatusOK, map[string]string{}
	if a.draining.Load() {
		status, checks["server"] = http.StatusServiceUnavailable, "shutting down"
	}
	if err := a.store.db.PingContext(ctx); err != nil {
		logError(r.Context(), "readiness: database", err)
		status, checks["database"] = http.StatusServiceUnavailable, "unavailable"
	} else {
		checks["database"] = "ok"
	}
	checks["payment"] = "ok"
	if s := a.payment.breaker.State(); s != breaker.StateClosed {
		checks["payment"] = "degraded: breaker " + s.String()
	}
	checks["cache"] = "ok"
	if err := a.redis.Ping(ctx).Err(); err != nil {
		checks["cache"] = "degraded: remote tier unavailable, reading through to the database"
	}
	checks["outbox"] = "ok"
	if st, err := a.store.relay.Stats(ctx); err == nil && !st.OldestAt.IsZero() && time.Since(st.OldestAt) > 10*time.Second {
		checks["outbox"] = "degraded: events waiting since " + st.OldestAt.UTC().Format(time.RFC3339)
	}
	writeJSON(w, status, map[string]any{"ready": status == http.StatusOK, "checks": checks})
}

// status is what GET /admin/status reports: a compact view for the load generator and for humans.
type status struct {
	Breaker struct {
		State       string  `json:"state"`
		FailureRate float64 `json:"failure_rate"`
		Trips       int     `json:"trips"`
	} `json:"breaker"`
	Pool struct {
		Total    int   `json:"total"`
		Idle     int   `json:"idle"`
		InUse    int   `json:"in_use"`
		Waiting  int   `json:"waiting"`
		Acquires int64 `json:"acquires"`
		Waits    int64 `json:"waits"`
	} `json:"pool"`
	Cache struct {
		LocalHits    uint64  `json:"local_hits"`
		LocalMisses  uint64  `json:"local_misses"`
		RemoteHits   uint64  `json:"remote_hits"`
		RemoteMisses uint64  `json:"remote_misses"`
		Loads        uint64  `json:"loads"`
		HitRatio     float64 `json:"hit_ratio"` // answered by either tier, without the database
	} `json:"cache"`
	Outbox struct {
		Pending          int64   `json:"pending"`
		OldestAgeSeconds float64 `json:"oldest_age_seconds"`
		DeadLetters      int64   `json:"dead_letters"`
	} `json:"outbox"`
	PaymentCharges int64 `json:"payment_charges"`
}

func (a *app) handleStatus(w http.ResponseWriter, r *http.Request) {
	var s status
	bm := a.payment.breaker.Metrics()
	s.Breaker.State, s.Breaker.FailureRate, s.Breaker.Trips = bm.State.String(), bm.FailureRate, bm.Trips
	ps := a.inventory.pool.Stats()
	s.Pool.Total, s.Pool.Idle, s.Pool.InUse, s.Pool.Waiting = ps.Total, ps.Idle, ps.InUse, ps.Waiting
	s.Pool.Acquires, s.Pool.Waits = ps.Acquires, ps.Waits
	cs := a.users.Stats()
	s.Cache.LocalHits, s.Cache.LocalMisses, s.Cache.RemoteHits, s.Cache.RemoteMisses, s.Cache.Loads =
		cs.LocalHits, cs.LocalMisses, cs.RemoteHits, cs.RemoteMisses, cs.Loads
	if gets := cs.LocalHits + cs.LocalMisses; gets > 0 {
		s.Cache.HitRatio = float64(cs.LocalHits+cs.RemoteHits) / float64(gets)
	}
	if os, err := a.store.relay.Stats(r.Context()); err == nil {
		s.Outbox.Pending, s.Outbox.DeadLetters = os.Pending, os.DeadLetters
		if !os.OldestAt.IsZero() {
			s.Outbox.OldestAgeSeconds = time.Since(os.OldestAt).Seconds()
		}
	}
	s.PaymentCharges = a.gateway.charges.Load()
	writeJSON(w, http.StatusOK, s)
}

// faults returns the fault injection of a dependency named in the path: payment, inventory or broker.
func (a *app) faults(w http.ResponseWriter, r *http.Request) *Faults {
	switch r.PathValue("dep") {
	case "payment":
		return &a.gateway.Faults
	case "inventory":
		return &a.stock.Faults
	case "broker":
		return a.brokerFaults
	}
	writeProblem(w, r, http.StatusNotFound, "dependency must be payment, inventory or broker")
	return nil
}

func (a *app) handleGetFaults(w http.ResponseWriter, r *http.Request) {
	if f := a.faults(w, r); f != nil {
		writeJSON(w, http.StatusOK, f.Get())
	}
}

// handlePutFaults replaces a dependency's fault injection, for example
//
//	curl -X PUT localhost:8080/admin/faults/payment -d '{"outage": true}'
func (a *app) handlePutFaults(w http.ResponseWriter, r *http.Request) {
	f := a.faults(w, r)
	if f == nil {
		return
	}
	var s FaultSettings
	if err := decodeJSON(w, r, &s); err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if err := f.Set(s); err != nil {
		writeProblem(w, r, http.StatusUnprocessableEntity, err.Error())
		return
	}
	ctxutil.Logger(r.Context()).Info("fault injection changed",
		zap.String("dependency", r.PathValue("dep")), zap.Any("faults", s))
	writeJSON(w, http.StatusOK, s)
}
