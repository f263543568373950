package breaker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// The model is the breaker's specification written plainly: a list of outcomes instead of a ring or buckets,
// no atomics, no generations packed in words. TestModel drives both with the same random calls, outcomes,
// time steps and manual controls, and requires them to agree after every step.

var errModelDown = errors.New("dependency down")

type modelRec struct {
	at         int64
	fail, slow bool
}

type modelPermit struct {
	gen   int
	state State
	start int64
}

type model struct {
	c config

	state State
	gen   int
	since int64

	recs   []modelRec // closed or disabled: the recorded calls, oldest first
	consec int

	trips int
	until int64

	inflight, calls, fails, slows int // half-open probes
}

func (m *model) width() int64 { return int64(m.c.windowSpan) / int64(m.c.windowSize) }

// window returns the calls the rate rules look at, as of now.
func (m *model) window(now int64) (calls, fails, slows int) {
	for _, r := range m.recs {
		if m.c.window == timeWindow && r.at/m.width() <= now/m.width()-int64(m.c.windowSize) {
			continue
		}
		calls++
		if r.fail {
			fails++
		}
		if r.slow {
			slows++
		}
	}
	return
}

func (m *model) move(to State, now int64) {
	from := m.state
	m.state, m.gen, m.since = to, m.gen+1, now
	switch to {
	case StateOpen:
		m.trips++
		d := float64(m.c.openTimeout) * math.Pow(m.c.backoff, float64(m.trips-1))
		m.until = now + max(int64(min(d, float64(m.c.maxOpenTimeout))), 1)
	case StateHalfOpen:
		m.inflight, m.calls, m.fails, m.slows = 0, 0, 0, 0
	case StateClosed, StateDisabled:
		m.trips, m.consec = 0, 0
		if from != StateClosed && from != StateDisabled {
			m.recs = nil
		}
	}
}

func (m *model) allow(now int64) (modelPermit, bool) {
	switch m.state {
	case StateClosed, StateDisabled:
		return modelPermit{m.gen, m.state, now}, true
	case StateOpen:
		if now < m.until {
			return modelPermit{}, false
		}
		m.move(StateHalfOpen, now)
		m.inflight = 1
		return modelPermit{m.gen, m.state, now}, true
	case StateHalfOpen:
		if m.inflight+m.calls < m.c.halfOpenCalls {
			m.inflight++
			return modelPermit{m.gen, m.state, now}, true
		}
		if now-m.since >= int64(m.c.halfOpenMaxWait) {
			m.move(StateOpen, now)
		}
	}
	return modelPermit{}, false
}

func (m *model) limit(rate float64) int {
	n := m.c.halfOpenCalls
	for k := 1; k <= n; k++ {
		if float64(k)/float64(n) >= rate {
			return k
		}
	}
	return n
}

func (m *model) record(p modelPermit, o Outcome, now int64) {
	if p.gen != m.gen {
		return
	}
	slow := m.c.slowRate > 0 && now-p.start >= int64(m.c.slowerThan)
	if p.state == StateHalfOpen {
		m.inflight--
		if o == Ignored {
			return
		}
		m.calls++
		if o == Failure {
			m.fails++
		}
		if slow {
			m.slows++
		}
		failLimit, slowLimit := m.c.halfOpenCalls+1, m.c.halfOpenCalls+1
		if m.c.failureRate > 0 {
			failLimit = m.limit(m.c.failureRate)
		}
		if m.c.consecutive > 0 {
			failLimit = 1
		}
		if m.c.slowRate > 0 {
			slowLimit = m.limit(m.c.slowRate)
		}
		switch {
		case m.fails >= failLimit || m.slows >= slowLimit:
			m.move(StateOpen, now)
		case m.calls >= m.c.halfOpenCalls:
			m.move(StateClosed, now)
		}
		return
	}
	if o == Ignored {
		return
	}
	fail := o == Failure
	if m.c.consecutive > 0 {
		if fail {
			m.consec++
			if m.consec >= m.c.consecutive && m.state == StateClosed {
				m.move(StateOpen, now)
				return
			}
		} else {
			m.consec = 0
		}
	}
	if m.c.window == noWindow {
		return
	}
	m.recs = append(m.recs, modelRec{now, fail, slow})
	if m.c.window == countWindow && len(m.recs) > m.c.windowSize {
		m.recs = m.recs[1:]
	}
	calls, fails, slows := m.window(now)
	if m.state != StateClosed || calls < m.c.minimumCalls {
		return
	}
	if m.c.failureRate > 0 && float64(fails)/float64(calls) >= m.c.failureRate ||
		m.c.slowRate > 0 && float64(slows)/float64(calls) >= m.c.slowRate {
		m.move(StateOpen, now)
	}
}

// randomOptions draws a configuration small enough for random steps to reach every state.
func randomOptions(r *rand.Rand) []Option {
	rates := []float64{0.2, 0.3, 0.5, 0.7, 1}
	var opts []Option
	switch r.IntN(3) {
	case 0:
		opts = append(opts, WithCountWindow(1+r.IntN(8)))
	case 1:
		opts = append(opts, WithTimeWindow(time.Duration(1+r.IntN(10))*time.Second, 1+r.IntN(5)))
	}
	if r.IntN(2) == 0 {
		opts = append(opts, WithFailureRate(rates[r.IntN(len(rates))]))
	}
	if r.IntN(3) == 0 {
		opts = append(opts, WithSlowCallRate(rates[r.IntN(len(rates))], time.Duration(1+r.IntN(3))*time.Second))
	}
	if r.IntN(3) == 0 {
		opts = append(opts, WithConsecutiveFailures(1+r.IntN(4)))
	}
	if r.IntN(2) == 0 {
		opts = append(opts, WithMinimumCalls(1+r.IntN(3)))
	}
	opts = append(opts,
		WithOpenTimeout(time.Duration(1+r.IntN(5))*time.Second),
		WithHalfOpenCalls(1+r.IntN(3)),
		WithHalfOpenMaxWait(time.Duration(2+r.IntN(10))*time.Second))
	if r.IntN(2) == 0 {
		opts = append(opts, WithOpenBackoff(2, time.Duration(5+r.IntN(20))*time.Second))
	}
	return opts
}

func TestModel(t *testing.T) {
	seeds := 400
	if testing.Short() {
		seeds = 50
	}
	var visited [5]int // steps spent in each state, to check the random walk covers the machine
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		opts := randomOptions(r)
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		now := start
		b, err := New(append(opts, WithClock(func() time.Time { return now }))...)
		if err != nil {
			// Some draws are invalid (minimum calls above the count window): New must say so, and that is all.
			continue
		}
		m := &model{c: b.cfg}
		type held struct {
			p  Permit
			mp modelPermit
		}
		var permits []held
		var trace []string
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d: %s\ntrace:\n%s", seed, fmt.Sprintf(format, args...), joinTail(trace, 40))
		}
		for step := range 400 {
			ns := int64(now.Sub(start))
			switch op := r.IntN(20); {
			case op < 8: // a call starts
				p, err := b.Allow()
				mp, ok := m.allow(ns)
				trace = append(trace, fmt.Sprintf("%d allow -> %v (model %v)", step, err, ok))
				if (err == nil) != ok {
					fail("Allow: breaker admitted=%v, model admitted=%v", err == nil, ok)
				}
				if ok {
					permits = append(permits, held{p, mp})
				}
			case op < 15 && len(permits) > 0: // a call reports
				i := r.IntN(len(permits))
				h := permits[i]
				permits = append(permits[:i], permits[i+1:]...)
				o := Outcome(r.IntN(3))
				if r.IntN(3) > 0 && o == Ignored {
					o = Success
				}
				// Done half the time, so that the default classifier and Done's skipping of quiet successes are
				// held to the model too.
				if r.IntN(2) == 0 {
					trace = append(trace, fmt.Sprintf("%d done %v", step, o))
					h.p.Done([...]error{nil, errModelDown, context.Canceled}[o])
				} else {
					trace = append(trace, fmt.Sprintf("%d record %v", step, o))
					h.p.Record(o)
				}
				m.record(h.mp, o, ns)
			case op < 19: // time passes
				d := time.Duration(r.IntN(2500)) * time.Millisecond
				switch r.IntN(7) {
				case 0: // to the next bucket boundary, where rotation must happen exactly
					if m.c.window == timeWindow {
						d = time.Duration(m.width() - ns%m.width())
					}
				case 1: // to the end of the open timeout, or just before it
					if m.state == StateOpen && m.until > ns {
						d = time.Duration(m.until-ns) - time.Duration(r.IntN(2))
					}
				case 2: // to the end of the half-open max wait, or just before it
					if end := m.since + int64(m.c.halfOpenMaxWait); m.state == StateHalfOpen && end > ns {
						d = time.Duration(end-ns) - time.Duration(r.IntN(2))
					}
				}
				trace = append(trace, fmt.Sprintf("%d sleep %v", step, d))
				now = now.Add(d)
				ns = int64(now.Sub(start))
			default: // manual control, rarely
				switch r.IntN(4) {
				case 0:
					b.ForceOpen()
					m.move(StateForcedOpen, ns)
				case 1:
					b.Disable()
					m.move(StateDisabled, ns)
				default:
					b.Reset()
					m.move(StateClosed, ns)
					m.recs = nil
				}
				trace = append(trace, fmt.Sprintf("%d manual -> %v", step, m.state))
			}
			got := b.Metrics()
			visited[m.state]++
			if got.State != m.state {
				fail("state %v, model %v", got.State, m.state)
			}
			if got.Trips != m.trips {
				fail("trips %d, model %d", got.Trips, m.trips)
			}
			if m.c.consecutive > 0 && got.ConsecutiveFailures != m.consec {
				fail("consecutive failures %d, model %d", got.ConsecutiveFailures, m.consec)
			}
			switch m.state {
			case StateClosed, StateDisabled:
				calls, fails, slows := m.window(ns)
				if got.Calls != calls || got.Failures != fails || got.SlowCalls != slows {
					fail("window %d/%d/%d, model %d/%d/%d", got.Calls, got.Failures, got.SlowCalls, calls, fails, slows)
				}
			case StateOpen:
				if want := start.Add(time.Duration(m.until)); !got.OpenUntil.Equal(want) {
					fail("open until %v, model %v", got.OpenUntil, want)
				}
			case StateHalfOpen:
				if got.ProbesInFlight != m.inflight || got.Calls != m.calls || got.Failures != m.fails {
					fail("probes %d in flight %d/%d, model %d in flight %d/%d",
						got.ProbesInFlight, got.Calls, got.Failures, m.inflight, m.calls, m.fails)
				}
			}
		}
	}
	for s, n := range visited {
		if n < seeds {
			t.Errorf("the random walk spent only %d steps in state %v", n, State(s))
		}
	}
	t.Logf("steps per state: %v", visited)
}

func joinTail(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s := ""
	for _, l := range lines {
		s += l + "\n"
	}
	return s
}
