package breaker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/internal/clock"
)

// Breaker is a circuit breaker. Make one with [New]; the zero value is not usable. It is safe for concurrent
// use.
//
// In the closed state, admitting a call is one atomic load, and recording a success in a count window that
// already holds only successes writes nothing, so the hot path scales across cores. Transitions take a short
// lock and start a new generation; a [Permit] from an ended generation is ignored when it reports.
type Breaker struct {
	// word is the state in its low bits and the generation above them; it is written only under mu.
	word atomic.Uint64
	_    [56]byte // the line every call reads stays clean of the counters some calls write

	ring        atomic.Pointer[ring]    // the count window, when configured
	buckets     atomic.Pointer[buckets] // the time window, when configured
	open        atomic.Pointer[openInfo]
	since       atomic.Int64 // when the current state began (clock nanoseconds)
	probesTaken atomic.Int32 // half-open: probes in flight plus probes decided, a hint read without mu

	cfg       config
	clk       clock.Nanos
	fastMask  uint64 // Allow admits at once when word&fastMask == 0: closed or disabled, no call to time
	needStart bool   // the slow-call rule times calls
	needEnd   bool   // the slow-call rule or a time window reads the clock when a call reports
	quiet     quietKind

	probeFailLimit int // failed probes that reopen a half-open breaker
	probeSlowLimit int // slow probes that reopen a half-open breaker

	mu      sync.Mutex // serialises transitions
	trips   int        // guarded by mu: openings since the breaker last closed
	probes  probeState // guarded by mu
	tripped tally      // guarded by mu: the counts that opened the breaker

	_           [64]byte     // failures write this counter: keep it off the lines that every call reads
	consecutive atomic.Int64 // failures in a row, when that rule is on
}

// quietKind says how Done can tell, with loads only, that recording a success would change nothing.
type quietKind uint8

const (
	quietNever       quietKind = iota
	quietRing                  // a count window full of successes, and no other rule
	quietConsecutive           // only the consecutive rule, and no failure in a row
)

// openInfo describes one opening; it is made at the transition so that rejecting allocates nothing.
type openInfo struct {
	word  uint64 // the state word of that opening
	until int64  // when a probe may go through
	err   *OpenError
}

type probeState struct {
	inflight int
	t        tally
}

// Outcome is how a call counts for the breaker.
type Outcome uint8

const (
	Success Outcome = iota // the dependency worked
	Failure                // the dependency failed
	Ignored                // the call says nothing about the dependency: it is not recorded
)

func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Ignored:
		return "ignored"
	}
	return "Outcome(" + itoa(int(o)) + ")"
}

// DefaultClassifier is the classifier used without [WithClassifier]: nil is a [Success];
// [context.Canceled] is [Ignored], since the caller left and the dependency did not fail; anything else,
// [context.DeadlineExceeded] included, is a [Failure].
func DefaultClassifier(err error) Outcome {
	switch {
	case err == nil:
		return Success
	case errors.Is(err, context.Canceled):
		return Ignored
	}
	return Failure
}

// New returns a breaker configured by opts. With no option, it opens when at least half of the last 100 calls
// failed, once 20 were recorded, stays open 60s, then lets 5 probes decide. An invalid option makes New
// fail with an error naming it.
func New(opts ...Option) (*Breaker, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := cfg.finish(); err != nil {
		return nil, err
	}
	b := &Breaker{cfg: cfg, clk: clock.New(cfg.now)}
	b.needStart = cfg.slowRate > 0
	b.fastMask = closedMask
	if b.needStart {
		b.fastMask = ^uint64(0) // the word is never 0: generations start at 1
	}
	b.word.Store(1 << stateBits)
	b.needEnd = cfg.slowRate > 0 || cfg.window == timeWindow
	b.probeFailLimit, b.probeSlowLimit = cfg.halfOpenCalls+1, cfg.halfOpenCalls+1
	if cfg.failureRate > 0 {
		b.probeFailLimit = rateLimit(cfg.failureRate, cfg.halfOpenCalls)
	}
	if cfg.consecutive > 0 {
		b.probeFailLimit = 1
	}
	if cfg.slowRate > 0 {
		b.probeSlowLimit = rateLimit(cfg.slowRate, cfg.halfOpenCalls)
	}
	switch {
	case cfg.classifier != nil || b.needEnd:
	case cfg.window == countWindow && cfg.consecutive == 0:
		b.quiet = quietRing
	case cfg.window == noWindow:
		b.quiet = quietConsecutive
	}
	b.resetWindow()
	return b, nil
}

// rateLimit returns the smallest k in [1, n] with k/n >= rate.
func rateLimit(rate float64, n int) int {
	for k := 1; k < n; k++ {
		if float64(k)/float64(n) >= rate {
			return k
		}
	}
	return n
}

func (b *Breaker) resetWindow() {
	switch b.cfg.window {
	case countWindow:
		b.ring.Store(newRing(b.cfg.windowSize))
	case timeWindow:
		width := int64(b.cfg.windowSpan) / int64(b.cfg.windowSize)
		w := newBuckets(width, b.cfg.windowSize)
		// Start at the current bucket so that an old epoch's calls are not counted.
		w.setHead(max(b.now()/width, 0))
		b.buckets.Store(w)
	}
}

// now reads the clock: nanoseconds since the breaker was made.
func (b *Breaker) now() int64 { return b.clk.Now() }

// Permit is the right to make one call, returned by [Breaker.Allow]. Report the call's result exactly once,
// with [Permit.Done] or [Permit.Record]; a half-open breaker counts on it to free the probe slot. It is a plain
// value: copying it is cheap and it allocates nothing. The zero Permit reports to nothing.
type Permit struct {
	b     *Breaker
	word  uint64 // state and generation when admitted
	start int64  // clock when admitted, when the slow-call rule needs it
}

// Done reports the call's result, classified by the breaker's classifier.
func (p Permit) Done(err error) {
	if p.b == nil || err == nil && p.b.quietSuccess(p.word) {
		return
	}
	p.b.record(p, p.b.classify(err))
}

// quietSuccess reports whether recording a success in state w would change nothing, so it can be skipped.
// That is the healthy closed breaker's case: its hot path then writes no shared memory. A half-open probe is
// never quiet: its report returns its permit. (Its window cannot be trusted to look unhealthy either: a closed
// call's success that passed its generation check just before a trip can still write after it.)
func (b *Breaker) quietSuccess(w uint64) bool {
	if w&closedMask != 0 {
		return false
	}
	switch b.quiet {
	case quietRing:
		r := b.ring.Load()
		return r.counts.Load() == r.healthy && b.word.Load() == w
	case quietConsecutive:
		return b.consecutive.Load() == 0 && b.word.Load() == w
	}
	return false
}

// Record reports the call's result as an outcome the caller classified itself.
func (p Permit) Record(o Outcome) {
	if p.b != nil {
		p.b.record(p, o)
	}
}

func (b *Breaker) classify(err error) Outcome {
	if b.cfg.classifier != nil {
		return b.cfg.classifier(err)
	}
	if err == nil {
		return Success
	}
	return DefaultClassifier(err)
}

// Allow asks for a permit to make one call. It returns an error matching [ErrOpen] when the breaker rejects the
// call; otherwise the caller must report the result through the permit:
//
//	p, err := b.Allow()
//	if err != nil {
//		return err
//	}
//	err = call()
//	p.Done(err)
func (b *Breaker) Allow() (Permit, error) {
	if w := b.word.Load(); w&b.fastMask == 0 {
		return Permit{b: b, word: w}, nil
	}
	return b.allowSlow()
}

// Do calls fn if the breaker allows it and records the outcome. It returns ctx.Err() without calling fn when
// ctx is already done, an error matching [ErrOpen] when the breaker rejects the call, and fn's error otherwise.
// A panic in fn is recorded as a failure and goes on.
func (b *Breaker) Do(ctx context.Context, fn func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := b.Allow()
	if err != nil {
		return err
	}
	panicked := true
	defer func() {
		if panicked {
			p.Record(Failure)
		}
	}()
	err = fn(ctx)
	p.Done(err)
	panicked = false // after Done: a panicking classifier must not keep a half-open permit either
	return err
}

// Call is [Breaker.Do] for a function that returns a value.
func Call[T any](ctx context.Context, b *Breaker, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	p, err := b.Allow()
	if err != nil {
		return zero, err
	}
	panicked := true
	defer func() {
		if panicked {
			p.Record(Failure)
		}
	}()
	v, err := fn(ctx)
	p.Done(err)
	panicked = false // see Do
	return v, err
}

// record takes a reported outcome to the window and the rules of the permit's generation.
func (b *Breaker) record(p Permit, o Outcome) {
	if stateOf(p.word) == StateHalfOpen {
		b.recordProbe(p, o)
		return
	}
	if o == Ignored || b.word.Load() != p.word {
		return
	}
	fail, slow := o == Failure, false
	now := unread
	if b.needEnd {
		now = b.now()
		slow = b.needStart && now-p.start >= int64(b.cfg.slowerThan)
	}
	tripping := stateOf(p.word) == StateClosed
	if b.cfg.consecutive > 0 {
		if fail {
			if b.consecutive.Add(1) >= int64(b.cfg.consecutive) && tripping {
				b.trip(p.word, ReasonConsecutiveFailures, now)
				return
			}
		} else if b.consecutive.Load() != 0 {
			b.consecutive.Store(0)
		}
	}
	var t tally
	var eval bool
	switch b.cfg.window {
	case countWindow:
		t, eval = b.ring.Load().record(now, fail, slow)
	case timeWindow:
		t, eval = b.buckets.Load().record(now, fail, slow)
	default:
		return
	}
	if eval && tripping {
		if r := b.rateRule(t); r != 0 {
			b.trip(p.word, r, now)
		}
	}
}

// rateRule says which rate rule, if any, t meets.
func (b *Breaker) rateRule(t tally) Reason {
	if t.calls < b.cfg.minimumCalls || t.calls == 0 {
		return 0
	}
	if b.cfg.failureRate > 0 && float64(t.failures)/float64(t.calls) >= b.cfg.failureRate {
		return ReasonFailureRate
	}
	if b.cfg.slowRate > 0 && float64(t.slow)/float64(t.calls) >= b.cfg.slowRate {
		return ReasonSlowCallRate
	}
	return 0
}

// State returns the breaker's state. An open breaker whose timeout has passed reports [StateOpen] until the
// next call moves it to half-open.
func (b *Breaker) State() State { return stateOf(b.word.Load()) }

// RetryAfter returns how long until an open breaker lets a probe through: 0 when it is not open or its open
// timeout has passed.
func (b *Breaker) RetryAfter() time.Duration {
	w := b.word.Load()
	if stateOf(w) != StateOpen {
		return 0
	}
	info := b.open.Load()
	if info == nil || info.word != w {
		return 0
	}
	return time.Duration(max(info.until-b.now(), 0))
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + itoa(n%10)
}
