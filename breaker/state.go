package breaker

import (
	"math"
	"math/rand/v2"
	"time"
)

// State is where a breaker stands.
type State uint8

// The state is packed with a generation in one word: the low stateBits bits hold it. Closed and disabled are
// the only states whose low two bits are zero, so one mask tells Allow's fast path that a call goes through.
const (
	StateClosed     State = 0 // calls go through and are recorded; a rule trips the breaker
	StateOpen       State = 1 // calls are rejected until the open timeout passes
	StateHalfOpen   State = 2 // a few probes go through to decide between closed and open
	StateForcedOpen State = 3 // calls are rejected until [Breaker.Reset]
	StateDisabled   State = 4 // calls go through and are recorded, but no rule trips the breaker

	stateBits  = 3
	stateMask  = 1<<stateBits - 1
	closedMask = 3
)

func stateOf(w uint64) State { return State(w & stateMask) }

func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateOpen:
		return "open"
	case StateHalfOpen:
		return "half-open"
	case StateForcedOpen:
		return "forced-open"
	case StateDisabled:
		return "disabled"
	}
	return "State(" + itoa(int(s)) + ")"
}

// Reason says why a transition happened.
type Reason uint8

const (
	ReasonFailureRate         Reason = iota + 1 // closed -> open: the failure rate reached its threshold
	ReasonSlowCallRate                          // closed -> open: the slow-call rate reached its threshold
	ReasonConsecutiveFailures                   // closed -> open: too many failures in a row
	ReasonOpenTimeout                           // open -> half-open: the open timeout passed
	ReasonProbesSucceeded                       // half-open -> closed
	ReasonProbesFailed                          // half-open -> open: the probes met a trip rule
	ReasonHalfOpenTimeout                       // half-open -> open: the probes did not decide in time
	ReasonManual                                // ForceOpen, Disable or Reset
)

func (r Reason) String() string {
	switch r {
	case ReasonFailureRate:
		return "failure rate"
	case ReasonSlowCallRate:
		return "slow-call rate"
	case ReasonConsecutiveFailures:
		return "consecutive failures"
	case ReasonOpenTimeout:
		return "open timeout"
	case ReasonProbesSucceeded:
		return "probes succeeded"
	case ReasonProbesFailed:
		return "probes failed"
	case ReasonHalfOpenTimeout:
		return "half-open timeout"
	case ReasonManual:
		return "manual"
	}
	return "Reason(" + itoa(int(r)) + ")"
}

// Transition is what [WithOnStateChange] receives.
type Transition struct {
	From, To   State
	Reason     Reason
	At         time.Time
	Generation uint64  // increases with every transition
	Metrics    Metrics // the breaker as it stood just before the transition
}

// Metrics is a snapshot of a breaker, from [Breaker.Metrics].
type Metrics struct {
	State      State
	Since      time.Time // when the breaker entered State
	Generation uint64

	// Calls, Failures and SlowCalls count the window when closed or disabled, the probes when half-open, and
	// the window that tripped the breaker when open. They stay zero without a window, except for probes.
	Calls, Failures, SlowCalls int
	FailureRate, SlowCallRate  float64 // Failures/Calls and SlowCalls/Calls, 0 without calls

	ConsecutiveFailures int       // when WithConsecutiveFailures is on
	ProbesInFlight      int       // when half-open
	Trips               int       // openings since the breaker last closed; drives WithOpenBackoff
	OpenUntil           time.Time // when open, the earliest time a probe goes through
}

// unread marks a clock not read yet in this call.
const unread int64 = math.MinInt64

func (b *Breaker) nowIf(now int64) int64 {
	if now == unread {
		return b.now()
	}
	return now
}

// allowSlow is Allow off its fast path: the breaker is not closed, or calls are timed.
func (b *Breaker) allowSlow() (Permit, error) {
	w, now := b.word.Load(), unread
	for {
		switch stateOf(w) {
		case StateClosed, StateDisabled:
			p := Permit{b: b, word: w}
			if b.needStart {
				p.start = b.nowIf(now)
			}
			return p, nil
		case StateForcedOpen:
			return Permit{}, errForcedOpen
		case StateOpen:
			info := b.open.Load()
			if info.word == w {
				now = b.nowIf(now)
				if now < info.until {
					return Permit{}, info.err
				}
				if p, ok := b.toHalfOpen(w, now); ok {
					return p, nil
				}
			}
		case StateHalfOpen:
			if int(b.probesTaken.Load()) >= b.cfg.halfOpenCalls {
				now = b.nowIf(now)
				if now-b.since.Load() < int64(b.cfg.halfOpenMaxWait) {
					return Permit{}, errHalfOpenFull
				}
			}
			if p, err, ok := b.admitProbe(w, now); ok {
				return p, err
			}
		}
		w = b.word.Load()
	}
}

// toHalfOpen moves an open breaker to half-open and admits the caller as its first probe. It fails when
// another call moved the breaker first.
func (b *Breaker) toHalfOpen(w uint64, now int64) (Permit, bool) {
	b.mu.Lock()
	if b.word.Load() != w {
		b.mu.Unlock()
		return Permit{}, false
	}
	tr := b.setLocked(StateHalfOpen, ReasonOpenTimeout, now)
	b.probes.inflight = 1
	b.probesTaken.Store(1)
	p := Permit{b: b, word: b.word.Load(), start: now}
	b.mu.Unlock()
	b.notify(tr)
	return p, true
}

// admitProbe admits a probe into a half-open breaker if a permit is left, and reopens it when its probes took
// too long. It fails when the breaker left the state w.
func (b *Breaker) admitProbe(w uint64, now int64) (Permit, error, bool) {
	b.mu.Lock()
	if b.word.Load() != w {
		b.mu.Unlock()
		return Permit{}, nil, false
	}
	if b.probes.inflight+b.probes.t.calls < b.cfg.halfOpenCalls {
		b.probes.inflight++
		b.probesTaken.Add(1)
		b.mu.Unlock()
		p := Permit{b: b, word: w}
		if b.needStart {
			p.start = b.nowIf(now)
		}
		return p, nil, true
	}
	now = b.nowIf(now)
	if now-b.since.Load() < int64(b.cfg.halfOpenMaxWait) {
		b.mu.Unlock()
		return Permit{}, errHalfOpenFull, true
	}
	b.tripped = b.probes.t
	tr := b.setLocked(StateOpen, ReasonHalfOpenTimeout, now)
	err := b.open.Load().err
	b.mu.Unlock()
	b.notify(tr)
	return Permit{}, err, true
}

// recordProbe takes a probe's outcome: it frees the probe's permit and decides when the probes allow it.
func (b *Breaker) recordProbe(p Permit, o Outcome) {
	now := unread
	slow := false
	if b.needStart && o != Ignored {
		now = b.now()
		slow = now-p.start >= int64(b.cfg.slowerThan)
	}
	b.mu.Lock()
	if b.word.Load() != p.word {
		b.mu.Unlock()
		return
	}
	ps := &b.probes
	ps.inflight = max(ps.inflight-1, 0)
	if o == Ignored {
		b.probesTaken.Store(int32(ps.inflight + ps.t.calls))
		b.mu.Unlock()
		return
	}
	ps.t.calls++
	if o == Failure {
		ps.t.failures++
	}
	if slow {
		ps.t.slow++
	}
	b.probesTaken.Store(int32(ps.inflight + ps.t.calls))
	var tr Transition
	switch {
	case ps.t.failures >= b.probeFailLimit:
		b.tripped = ps.t
		tr = b.setLocked(StateOpen, ReasonProbesFailed, b.nowIf(now))
	case ps.t.slow >= b.probeSlowLimit:
		b.tripped = ps.t
		tr = b.setLocked(StateOpen, ReasonProbesFailed, b.nowIf(now))
	case ps.t.calls >= b.cfg.halfOpenCalls:
		tr = b.setLocked(StateClosed, ReasonProbesSucceeded, b.nowIf(now))
	}
	b.mu.Unlock()
	if tr.Reason != 0 {
		b.notify(tr)
	}
}

// trip opens a closed breaker in state w, unless it left w already.
func (b *Breaker) trip(w uint64, reason Reason, now int64) {
	now = b.nowIf(now)
	b.mu.Lock()
	if b.word.Load() != w {
		b.mu.Unlock()
		return
	}
	b.tripped = b.windowCounts(now)
	tr := b.setLocked(StateOpen, reason, now)
	b.mu.Unlock()
	b.notify(tr)
}

// setLocked moves the breaker to state to, in a new generation, and returns the transition to report.
// The caller holds mu.
func (b *Breaker) setLocked(to State, reason Reason, now int64) Transition {
	old := b.word.Load()
	tr := Transition{From: stateOf(old), To: to, Reason: reason, At: b.clk.At(now), Metrics: b.metricsLocked(now)}
	gen := old>>stateBits + 1
	w := gen<<stateBits | uint64(to)
	tr.Generation = gen
	switch to {
	case StateOpen:
		b.trips++
		until := now + b.openFor()
		b.open.Store(&openInfo{word: w, until: until, err: &OpenError{State: StateOpen, Until: b.clk.At(until)}})
	case StateHalfOpen:
		b.probes = probeState{}
		b.probesTaken.Store(0)
	case StateClosed, StateDisabled:
		b.trips = 0
		b.consecutive.Store(0)
		// Closed and disabled share the window, so moving between them keeps it.
		if tr.From != StateClosed && tr.From != StateDisabled {
			b.resetWindow()
		}
	}
	b.since.Store(now)
	b.word.Store(w)
	return tr
}

// openFor returns how long the breaker stays open after its b.trips-th opening in a row.
func (b *Breaker) openFor() int64 {
	d := float64(b.cfg.openTimeout) * math.Pow(b.cfg.backoff, float64(b.trips-1))
	d = min(d, float64(b.cfg.maxOpenTimeout))
	if b.cfg.jitter > 0 {
		d += d * b.cfg.jitter * (2*rand.Float64() - 1)
	}
	// Without a cap the backoff grows without bound: keep it where until = now + d cannot overflow (146 years).
	return int64(max(min(d, 1<<62), 1))
}

func (b *Breaker) notify(tr Transition) {
	if b.cfg.onChange != nil {
		b.cfg.onChange(tr)
	}
}

// windowCounts returns what the window holds now, or nothing without a window.
func (b *Breaker) windowCounts(now int64) tally {
	switch b.cfg.window {
	case countWindow:
		return b.ring.Load().snapshot(now)
	case timeWindow:
		return b.buckets.Load().snapshot(now)
	}
	return tally{}
}

// Metrics returns a snapshot of the breaker.
func (b *Breaker) Metrics() Metrics {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.metricsLocked(now)
}

func (b *Breaker) metricsLocked(now int64) Metrics {
	w := b.word.Load()
	m := Metrics{
		State:               stateOf(w),
		Since:               b.clk.At(b.since.Load()),
		Generation:          w >> stateBits,
		ConsecutiveFailures: int(b.consecutive.Load()),
		Trips:               b.trips,
	}
	var t tally
	switch m.State {
	case StateClosed, StateDisabled:
		t = b.windowCounts(now)
	case StateOpen:
		t = b.tripped
		m.OpenUntil = b.open.Load().err.Until
	case StateForcedOpen:
		t = b.tripped
	case StateHalfOpen:
		t = b.probes.t
		m.ProbesInFlight = b.probes.inflight
	}
	m.Calls, m.Failures, m.SlowCalls = t.calls, t.failures, t.slow
	if t.calls > 0 {
		m.FailureRate = float64(t.failures) / float64(t.calls)
		m.SlowCallRate = float64(t.slow) / float64(t.calls)
	}
	return m
}

// ForceOpen opens the breaker until [Breaker.Reset] or [Breaker.Disable]: every call is rejected with an
// error matching [ErrOpen].
func (b *Breaker) ForceOpen() { b.manual(StateForcedOpen) }

// Disable keeps the breaker closed whatever the calls do, until [Breaker.Reset] or [Breaker.ForceOpen]. Calls
// are still recorded, so [Breaker.Metrics] tells what the rules would have done.
func (b *Breaker) Disable() { b.manual(StateDisabled) }

// Reset closes the breaker with an empty window, from any state, and returns the open timeout to its base.
func (b *Breaker) Reset() { b.manual(StateClosed) }

func (b *Breaker) manual(to State) {
	now := b.now()
	b.mu.Lock()
	if to == StateForcedOpen && stateOf(b.word.Load()) != StateForcedOpen {
		b.tripped = b.windowCounts(now)
	}
	tr := b.setLocked(to, ReasonManual, now)
	if to == StateClosed {
		b.resetWindow()
	}
	b.mu.Unlock()
	b.notify(tr)
}
