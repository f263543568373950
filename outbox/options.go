package outbox

import (
	"fmt"
	"time"

	"go.uber.org/zap"
)

// An Option configures a [Relay].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// DeadLetterPolicy says what happens to a key's later messages once one of its messages is dead-lettered.
type DeadLetterPolicy int

const (
	// ParkKey keeps the key's later messages pending until the dead letter is replayed or discarded, so the
	// key's order is never broken. Other keys keep flowing. The default.
	ParkKey DeadLetterPolicy = iota
	// SkipToNext publishes the key's later messages right away: the key keeps flowing, and a replayed dead
	// letter arrives after them (out of order).
	SkipToNext
)

func (p DeadLetterPolicy) String() string {
	switch p {
	case ParkKey:
		return "ParkKey"
	case SkipToNext:
		return "SkipToNext"
	}
	return fmt.Sprintf("DeadLetterPolicy(%d)", int(p))
}

type config struct {
	batchSize     int
	pollInterval  time.Duration
	wakeup        bool
	maxAttempts   int
	backoffMin    time.Duration
	backoffMax    time.Duration
	policy        DeadLetterPolicy
	retention     time.Duration
	purgeBatch    int
	leaseTTL      time.Duration
	statsInterval time.Duration
	logger        *zap.Logger
	hooks         []func(Event)
	now           func() time.Time
}

func defaults() config {
	return config{
		batchSize:     500,
		pollInterval:  time.Second,
		wakeup:        true,
		maxAttempts:   10,
		backoffMin:    100 * time.Millisecond,
		backoffMax:    time.Minute,
		policy:        ParkKey,
		purgeBatch:    1000,
		leaseTTL:      10 * time.Second,
		statsInterval: 10 * time.Second,
		logger:        zap.NewNop(),
	}
}

func (c *config) validate() error {
	switch {
	case c.batchSize < 1:
		return fmt.Errorf("outbox: WithBatchSize: size must be >= 1, got %d", c.batchSize)
	case c.pollInterval <= 0:
		return fmt.Errorf("outbox: WithPollInterval: interval must be > 0, got %s", c.pollInterval)
	case c.maxAttempts < 1:
		return fmt.Errorf("outbox: WithMaxAttempts: attempts must be >= 1, got %d", c.maxAttempts)
	case c.backoffMin <= 0 || c.backoffMax < c.backoffMin:
		return fmt.Errorf("outbox: WithBackoff: need 0 < min <= max, got min %s max %s", c.backoffMin, c.backoffMax)
	case c.policy != ParkKey && c.policy != SkipToNext:
		return fmt.Errorf("outbox: WithDeadLetterPolicy: unknown policy, got %d", int(c.policy))
	case c.retention < 0:
		return fmt.Errorf("outbox: WithRetention: retention must be >= 0, got %s", c.retention)
	case c.purgeBatch < 1:
		return fmt.Errorf("outbox: WithRetention: purge batch must be >= 1, got %d", c.purgeBatch)
	case c.leaseTTL < 10*time.Millisecond:
		return fmt.Errorf("outbox: WithLeaseTTL: ttl must be >= 10ms, got %s", c.leaseTTL)
	case c.statsInterval <= 0:
		return fmt.Errorf("outbox: WithStatsInterval: interval must be > 0, got %s", c.statsInterval)
	case c.logger == nil:
		return fmt.Errorf("outbox: WithLogger: logger must not be nil, got nil")
	}
	return nil
}

// WithBatchSize sets how many messages the relay claims and publishes at once (default 500). The last one wins.
func WithBatchSize(n int) Option { return optionFunc(func(c *config) { c.batchSize = n }) }

// WithPollInterval sets the longest an idle relay waits before looking for new messages (default 1s). After
// a batch or a wake-up it looks again after 1ms, doubling the wait up to this interval while nothing comes, so
// messages held back by a transaction that sends no notification are picked up soon. With a store that wakes
// the relay on commit it only bounds the delay after a lost notification. The last one wins.
func WithPollInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.pollInterval = d })
}

// WithWakeup turns waking on commit on or off for stores that support it (default on). The last one wins.
func WithWakeup(on bool) Option { return optionFunc(func(c *config) { c.wakeup = on }) }

// WithMaxAttempts sets how many times a message is tried before it is dead-lettered (default 10; 1 means
// dead-letter on the first failure). The last one wins.
func WithMaxAttempts(n int) Option { return optionFunc(func(c *config) { c.maxAttempts = n }) }

// WithBackoff sets the retry delay after a failed attempt: min doubled per attempt up to max, with jitter
// drawing each delay uniformly from its upper half (defaults 100ms and 1m). The last one wins.
func WithBackoff(min, max time.Duration) Option {
	return optionFunc(func(c *config) { c.backoffMin, c.backoffMax = min, max })
}

// WithDeadLetterPolicy sets what a dead letter does to its key's later messages (default [ParkKey]).
// The last one wins.
func WithDeadLetterPolicy(p DeadLetterPolicy) Option {
	return optionFunc(func(c *config) { c.policy = p })
}

// WithRetention keeps published messages for d before deleting them, at most batch rows per statement (so
// the table never sees an unbounded DELETE). The relay purges every d/10 (at least every poll interval), up
// to 10 statements at a time, and while more rows are due it goes on between batches until it caught up.
// d = 0, the default, deletes each message as soon as it is published. The last one wins.
func WithRetention(d time.Duration, batch int) Option {
	return optionFunc(func(c *config) { c.retention, c.purgeBatch = d, batch })
}

// WithLeaseTTL sets how long a relay owns its partitions without renewing (default 10s): a crashed relay's
// partitions move to the others after at most this long. The relay renews between batches, at least every
// TTL/3 and every poll interval, and stops publishing a batch TTL/5 before the leases it was claimed under
// expire (the margin covers clock skew between relays and a publish in flight): messages not acknowledged by
// then stay pending for whoever owns the partition next ([EventBatchCut]). So a batch is never cut when it
// takes less than 4/5 of the TTL minus the renewal interval (7s with the defaults); set the TTL to well over
// twice the longest a batch takes on a slow broker.
//
// A cut message counts no attempt unless it had a fair chance: it was in the batch's first wave (each key's
// oldest claimed message, sent as the batch starts) and was in flight, unacknowledged, for at least 2/5 of the
// TTL (4s with the defaults: half the publish time of a batch that starts as its leases are renewed);
// [PublisherFunc] counts each message from when it began sending it. Such a message is charged one failed
// attempt, wrapping [context.DeadlineExceeded], and goes through the retries, backoff, [WithMaxAttempts] and
// dead-lettering of any failure ([EventFailed]), so a message the broker never acknowledges in time cannot
// block its key forever. A message cut in a later wave is its key's oldest in the next batch, so in its first
// wave. The last one wins.
func WithLeaseTTL(d time.Duration) Option { return optionFunc(func(c *config) { c.leaseTTL = d }) }

// WithStatsInterval sets how often the relay reports the backlog ([EventStats]) (default 10s). The last one wins.
func WithStatsInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.statsInterval = d })
}

// WithLogger sets the logger for the relay's errors and lifecycle (default a no-op). The last one wins.
func WithLogger(l *zap.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

// WithHook adds a function called with every [Event]: counts, latencies and the backlog for metrics.
// Hooks run on the relay's goroutine, in the order added, so they should be quick. Repeating adds hooks.
func WithHook(h func(Event)) Option {
	return optionFunc(func(c *config) {
		if h != nil {
			c.hooks = append(c.hooks, h)
		}
	})
}

// WithClock sets the relay's time source (default [time.Now]). The last one wins.
func WithClock(now func() time.Time) Option { return optionFunc(func(c *config) { c.now = now }) }
