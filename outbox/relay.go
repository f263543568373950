package outbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sluice-go/sluice/internal/clock"
)

// EventKind tells what an [Event] reports.
type EventKind int

const (
	EventPublished    EventKind = iota // Count messages were acknowledged by the broker and completed
	EventFailed                        // a publish attempt of Message failed with Err
	EventRetried                       // Message will be tried again after Delay
	EventDeadLettered                  // Message was moved to the dead-letter table
	EventBatch                         // a batch of Count messages took Latency from claim to completion
	EventStats                         // the backlog: Pending, OldestAge, DeadLetters
	EventError                         // a store or lease operation failed with Err; the relay backs off and retries
	EventPurged                        // Count published messages were deleted by retention
	EventBatchCut                      // a batch reached its lease deadline: Count unacknowledged messages were left pending, uncharged
)

// Event is what a relay reports to the hooks of [WithHook]. Only the fields named by Kind are set.
type Event struct {
	Kind        EventKind
	Count       int
	Latency     time.Duration
	Delay       time.Duration
	Message     *Message
	Err         error
	Pending     int64
	OldestAge   time.Duration
	DeadLetters int64
	Partitions  int // partitions held by this relay, with EventStats
}

// Relay publishes the messages of a [Store] through a [Publisher].
//
// Several relays may run on the same store, in one process or many: each leases a fair share of the store's
// partitions, and a partition is published by one relay at a time, in commit order, so per-key order holds
// while throughput grows with relays as long as keys differ. Create one with [NewRelay]; the zero value is not
// usable. Run may be called once at a time; the other methods are safe for concurrent use.
type Relay struct {
	store   Store
	pub     Publisher
	cfg     config
	clk     clock.Nanos
	running atomic.Bool
}

// ErrRunning is returned by [Relay.Run] when the relay is already running.
var ErrRunning = errors.New("outbox: relay already running")

// NewRelay returns a relay publishing store's messages through pub.
func NewRelay(store Store, pub Publisher, opts ...Option) (*Relay, error) {
	if store == nil {
		return nil, errors.New("outbox: NewRelay: store must not be nil")
	}
	if pub == nil {
		return nil, errors.New("outbox: NewRelay: publisher must not be nil")
	}
	cfg := defaults()
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Relay{store: store, pub: pub, cfg: cfg, clk: clock.New(cfg.now)}, nil
}

// Run publishes until ctx ends, then finishes the batch in flight (within its lease deadline, see
// [WithLeaseTTL]; store calls get at most the lease TTL), releases its partitions and returns nil.
// Errors of the store or broker do not stop it: they are reported ([EventError], the logger) and retried
// with backoff. It returns [ErrRunning] when the relay is already running.
func (r *Relay) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer r.running.Store(false)
	owner := NewID()
	log := r.cfg.logger.With(zap.String("relay", owner))
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wctx, stopWaker := context.WithCancel(ctx)
	defer func() { stopWaker(); wg.Wait() }()
	if w, ok := r.store.(Waker); ok && r.cfg.wakeup {
		wg.Go(func() { r.runWaker(wctx, w, wake, log) })
	}
	// In-flight work runs on a context that keeps ctx's values and outlives its cancellation by at most the
	// lease TTL: by then another relay may own the partitions anyway, and a hung database cannot hold Run.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var graceMu sync.Mutex
	var grace *time.Timer // guarded by graceMu
	stopGrace := context.AfterFunc(ctx, func() {
		graceMu.Lock()
		grace = time.AfterFunc(r.cfg.leaseTTL, cancelWork)
		graceMu.Unlock()
	})
	defer func() {
		stopGrace()
		graceMu.Lock()
		if grace != nil {
			grace.Stop()
		}
		graceMu.Unlock()
	}()
	s := &runState{owner: owner, log: log, wake: wake}
	for ctx.Err() == nil {
		r.step(ctx, work, s)
	}
	// Also after a failed renewal: the store may still hold the leases of the last one, and the relay's
	// registration counts in the others' fair share until it expires.
	if s.leased {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.leaseTTL)
		if err := r.store.Release(rctx, owner); err != nil {
			log.Warn("outbox: releasing partitions", zap.Error(err))
		}
		cancel()
	}
	log.Debug("outbox: relay stopped")
	return nil
}

type runState struct {
	owner    string
	log      *zap.Logger
	wake     chan struct{}
	leases   []Lease
	leased   bool      // a Lease call succeeded: the store knows this relay
	leaseEnd time.Time // when leases expire in the store: the last successful Lease's time plus the TTL
	renewAt  time.Time
	statsAt  time.Time
	purgeAt  time.Time
	failures int           // consecutive store failures, for backoff
	idle     time.Duration // the last idle wait; grows from minIdle to the poll interval
	next     []Record      // the next batch, claimed while the previous one was published
	nextHeld bool          // whether keys were held back when next was claimed
}

// minIdle is the first wait after a batch or a wake-up found work.
const minIdle = time.Millisecond

// step does one round: renew leases when due, report and purge when due, publish one batch or wait.
func (r *Relay) step(ctx, work context.Context, s *runState) {
	now := r.clk.Time()
	if !now.Before(s.renewAt) {
		leases, err := r.store.Lease(work, s.owner, now, r.cfg.leaseTTL)
		if err != nil {
			s.leases = nil
			r.storeError(ctx, s, "leasing partitions", err)
			return
		}
		if len(leases) != len(s.leases) {
			s.log.Debug("outbox: partitions", zap.Int("held", len(leases)))
		}
		s.leases, s.leased, s.leaseEnd = leases, true, now.Add(r.cfg.leaseTTL)
		s.next = nil // claimed under the previous leases
		// Renewing at least every poll interval also picks up partitions other relays released soon.
		s.renewAt = now.Add(min(r.cfg.leaseTTL/3, r.cfg.pollInterval))
	}
	if !now.Before(s.statsAt) {
		s.statsAt = now.Add(r.cfg.statsInterval)
		r.reportStats(work, s, now)
	}
	if r.cfg.retention > 0 && !now.Before(s.purgeAt) {
		s.purgeAt = now.Add(max(r.cfg.pollInterval, r.cfg.retention/10))
		if r.purge(work, s, now) {
			// A backlog of published rows: go on in the next round, between batches, or the table would grow
			// whenever more messages are published per retention/10 than one round deletes.
			s.purgeAt = now
		}
	}
	if len(s.leases) == 0 {
		r.wait(ctx, s.wake, min(r.cfg.pollInterval, r.cfg.leaseTTL/3))
		return
	}
	n, err := r.batch(work, s)
	if err != nil {
		if errors.Is(err, ErrLeaseLost) {
			s.renewAt = time.Time{}
		}
		r.storeError(ctx, s, "publishing a batch", err)
		return
	}
	s.failures = 0
	if n >= r.cfg.batchSize {
		s.idle = 0
		return
	}
	// Rows committed while an older transaction is still open become claimable only when it ends, and that
	// transaction may send no notification (a relay's own, or one without messages). So after work or a
	// wake-up the relay looks again soon, backing off to the poll interval while nothing comes.
	if n > 0 {
		s.idle = minIdle
	} else {
		s.idle = min(max(2*s.idle, minIdle), r.cfg.pollInterval)
	}
	d := min(s.idle, s.renewAt.Sub(now)+time.Millisecond)
	if r.cfg.retention > 0 {
		d = min(d, s.purgeAt.Sub(now))
	}
	if r.wait(ctx, s.wake, d) {
		s.idle = 0
	}
}

func (r *Relay) storeError(ctx context.Context, s *runState, what string, err error) {
	s.failures++
	s.log.Warn("outbox: "+what, zap.Error(err), zap.Int("consecutive", s.failures))
	r.emit(Event{Kind: EventError, Err: err})
	d := r.backoff(s.failures)
	d = min(d, r.cfg.pollInterval)
	r.wait(ctx, nil, d)
}

// backoff returns the delay after the n-th consecutive failure: min doubled per failure up to max, drawn from
// the upper half so that relays and keys spread out.
func (r *Relay) backoff(n int) time.Duration {
	d := r.cfg.backoffMin
	for i := 1; i < n && d < r.cfg.backoffMax; i++ {
		d *= 2
	}
	d = min(d, r.cfg.backoffMax)
	half := d / 2
	return half + rand.N(d-half+1)
}

func (r *Relay) reportStats(ctx context.Context, s *runState, now time.Time) {
	if len(r.cfg.hooks) == 0 {
		return
	}
	st, err := r.store.Stats(ctx)
	if err != nil {
		r.emit(Event{Kind: EventError, Err: fmt.Errorf("reading stats: %w", err)})
		return
	}
	ev := Event{Kind: EventStats, Pending: st.Pending, DeadLetters: st.DeadLetters, Partitions: len(s.leases)}
	if !st.OldestAt.IsZero() {
		ev.OldestAge = max(0, now.Sub(st.OldestAt))
	}
	r.emit(ev)
}

// purge deletes published messages older than the retention, a bounded batch per statement, and at most a
// few batches per round so that publishing is never held up for long. It reports whether rows are left.
func (r *Relay) purge(ctx context.Context, s *runState, now time.Time) (more bool) {
	before := now.Add(-r.cfg.retention)
	total := 0
	defer func() {
		if total > 0 {
			r.emit(Event{Kind: EventPurged, Count: total})
		}
	}()
	for range purgeBatchesPerRound {
		n, err := r.store.Purge(ctx, before, r.cfg.purgeBatch)
		total += n
		if err != nil {
			s.log.Warn("outbox: purging published messages", zap.Error(err))
			r.emit(Event{Kind: EventError, Err: fmt.Errorf("purging: %w", err)})
			return false
		}
		if n < r.cfg.purgeBatch {
			return false
		}
	}
	return true
}

// purgeBatchesPerRound bounds the deletes between two batches of publishing.
const purgeBatchesPerRound = 10

func (r *Relay) runWaker(ctx context.Context, w Waker, wake chan<- struct{}, log *zap.Logger) {
	for n := 1; ctx.Err() == nil; n++ {
		err := w.Wake(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		log.Warn("outbox: wake-up listener failed; polling meanwhile", zap.Error(err))
		r.emit(Event{Kind: EventError, Err: fmt.Errorf("wake-up listener: %w", err)})
		r.wait(ctx, nil, r.backoff(n))
	}
}

// wait waits for d, a wake-up or the end of ctx, reporting whether it was woken.
func (r *Relay) wait(ctx context.Context, wake <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
		return true
	case <-t.C:
	}
	return false
}

func (r *Relay) emit(ev Event) {
	for _, h := range r.cfg.hooks {
		h(ev)
	}
}

// RetryHorizon is the longest time over which the relay may send a message again after a first attempt:
// every retry at its longest backoff, plus a lease expiry after a crash. A broker's de-duplication window
// (JetStream's Duplicates) should be at least this long.
func (r *Relay) RetryHorizon() time.Duration {
	var h time.Duration
	d := r.cfg.backoffMin
	for i := 1; i < r.cfg.maxAttempts; i++ {
		h += d
		d = min(2*d, r.cfg.backoffMax)
	}
	return h + r.cfg.leaseTTL + r.cfg.pollInterval
}
