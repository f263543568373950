// Package kafkapub publishes outbox messages to Kafka through github.com/twmb/franz-go.
//
// A message becomes a record with Key as the record key (so a key stays in one partition, where Kafka keeps
// order), the payload as value, the headers carried, and the message ID in the [IDHeader] header. Use a
// client with the idempotent producer (franz-go's default; do not set kgo.DisableIdempotentWrite): retries
// inside a producer session then never duplicate or reorder records. Kafka has no de-duplication across
// producer sessions, so the copies a relay sends again after a crash reach the topic; consumers remove them
// by the ID header with [outbox.Inbox].
//
// A batch waits for its acknowledgements at most the ack timeout ([WithAckTimeout], 10s by default) and
// until the relay's context ends, so a broker that stops answering cannot hold the relay.
package kafkapub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-go/sluice/outbox"
)

// IDHeader is the record header carrying the message ID.
const IDHeader = "Outbox-Id"

// Option configures a [Publisher].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	topic      func(outbox.Message) string
	ackTimeout time.Duration
}

// WithTopic sets how a message's Kafka topic is chosen (default: its Topic). The last one wins.
func WithTopic(f func(m outbox.Message) string) Option {
	return optionFunc(func(c *config) { c.topic = f })
}

// WithAckTimeout bounds how long a batch waits for its acknowledgements (default 10s, as natspub's); messages
// not acknowledged by then fail and are retried. The relay's lease deadline may end a batch sooner. Records
// franz-go has not sent yet are dropped at the timeout; records already sent (the idempotent producer cannot
// fail them) may still land later, ahead of their retry in the partition. The last one wins.
func WithAckTimeout(d time.Duration) Option { return optionFunc(func(c *config) { c.ackTimeout = d }) }

// Publisher is an [outbox.Publisher] for Kafka. Create it with [New]; it is safe for concurrent use. It does
// not own the client: close the client after the relays using it stopped.
type Publisher struct {
	cl  *kgo.Client
	cfg config
}

var _ outbox.Publisher = (*Publisher)(nil)

// New returns a publisher producing through cl.
func New(cl *kgo.Client, opts ...Option) (*Publisher, error) {
	if cl == nil {
		return nil, errors.New("kafkapub: New: client must not be nil")
	}
	cfg := config{topic: func(m outbox.Message) string { return m.Topic }, ackTimeout: 10 * time.Second}
	for _, o := range opts {
		o.apply(&cfg)
	}
	switch {
	case cfg.topic == nil:
		return nil, errors.New("kafkapub: WithTopic: function must not be nil, got nil")
	case cfg.ackTimeout <= 0:
		return nil, fmt.Errorf("kafkapub: WithAckTimeout: timeout must be > 0, got %s", cfg.ackTimeout)
	}
	return &Publisher{cl: cl, cfg: cfg}, nil
}

// Publish implements [outbox.Publisher]: it produces msgs asynchronously and waits for every acknowledgement,
// at most the ack timeout ([WithAckTimeout]) and until ctx ends. Messages not acknowledged by then fail with
// a timeout error, or ctx's error when ctx ended first; their late results are ignored.
func (p *Publisher) Publish(ctx context.Context, msgs []outbox.Message) []error {
	if len(msgs) == 0 {
		return nil
	}
	c := &call{errs: make([]error, len(msgs)), acked: make([]bool, len(msgs)), left: len(msgs), done: make(chan struct{})}
	// Produce gets the timeout too, so that franz-go drops what it has not sent (or is waiting to buffer) when
	// Publish gives up.
	pctx, cancel := context.WithTimeout(ctx, p.cfg.ackTimeout)
	defer cancel()
	timeout := fmt.Errorf("no acknowledgement within %s", p.cfg.ackTimeout)
	for i, m := range msgs {
		rec := &kgo.Record{Topic: p.cfg.topic(m), Value: m.Payload, Headers: make([]kgo.RecordHeader, 0, len(m.Headers)+1)}
		if m.Key != "" {
			rec.Key = []byte(m.Key)
		}
		for k, v := range m.Headers {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: IDHeader, Value: []byte(m.ID)})
		p.cl.Produce(pctx, rec, func(_ *kgo.Record, err error) {
			if err != nil && pctx.Err() != nil && ctx.Err() == nil {
				err = timeout // dropped by franz-go at the timeout: not the caller's context ending
			}
			if err != nil {
				err = fmt.Errorf("kafkapub: producing %s: %w", m.ID, err)
			}
			c.finish(i, err)
		})
	}
	var late error
	select {
	case <-c.done:
	case <-pctx.Done():
		late = timeout
		if err := ctx.Err(); err != nil {
			late = err
		}
	}
	return c.close(msgs, late)
}

// call collects the results of one Publish; results arriving after it returned are dropped.
type call struct {
	mu     sync.Mutex
	errs   []error // guarded by mu
	acked  []bool  // guarded by mu: a result arrived
	left   int     // guarded by mu
	closed bool    // guarded by mu: Publish returned
	done   chan struct{}
}

func (c *call) finish(i int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.acked[i] {
		return
	}
	c.errs[i], c.acked[i] = err, true
	if c.left--; c.left == 0 {
		close(c.done)
	}
}

// close fails the messages without a result with late (nil when all arrived) and returns the results.
func (c *call) close(msgs []outbox.Message, late error) []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	failed := false
	for i, err := range c.errs {
		if !c.acked[i] {
			if errors.Is(late, context.Canceled) || errors.Is(late, context.DeadlineExceeded) {
				err = late // the relay tells a cut batch from a failure by ctx's error
			} else {
				err = fmt.Errorf("kafkapub: producing %s: %w", msgs[i].ID, late)
			}
			c.errs[i] = err
		}
		failed = failed || err != nil
	}
	if !failed {
		return nil
	}
	return c.errs
}
