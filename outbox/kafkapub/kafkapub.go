// Package kafkapub publishes outbox messages to Kafka through github.com/twmb/franz-go.
//
// A message becomes a record with Key as the record key (so a key stays in one partition, where Kafka keeps
// order), the payload as value, the headers carried, and the message ID in the [IDHeader] header. Use a
// client with the idempotent producer (franz-go's default; do not set kgo.DisableIdempotentWrite): retries
// inside a producer session then never duplicate or reorder records. Kafka has no de-duplication across
// producer sessions, so the copies a relay sends again after a crash reach the topic; consumers remove them
// by the ID header with [outbox.Inbox].
package kafkapub

import (
	"context"
	"errors"
	"fmt"
	"sync"

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
	topic func(outbox.Message) string
}

// WithTopic sets how a message's Kafka topic is chosen (default: its Topic). The last one wins.
func WithTopic(f func(m outbox.Message) string) Option {
	return optionFunc(func(c *config) { c.topic = f })
}

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
	cfg := config{topic: func(m outbox.Message) string { return m.Topic }}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.topic == nil {
		return nil, errors.New("kafkapub: WithTopic: function must not be nil, got nil")
	}
	return &Publisher{cl: cl, cfg: cfg}, nil
}

// Publish implements [outbox.Publisher]: it produces msgs asynchronously and waits for every acknowledgement.
func (p *Publisher) Publish(ctx context.Context, msgs []outbox.Message) []error {
	errs := make([]error, len(msgs))
	var failed bool
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(len(msgs))
	for i, m := range msgs {
		rec := &kgo.Record{Topic: p.cfg.topic(m), Value: m.Payload, Headers: make([]kgo.RecordHeader, 0, len(m.Headers)+1)}
		if m.Key != "" {
			rec.Key = []byte(m.Key)
		}
		for k, v := range m.Headers {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: IDHeader, Value: []byte(m.ID)})
		p.cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				errs[i] = fmt.Errorf("kafkapub: producing %s: %w", m.ID, err)
				failed = true
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	if !failed {
		return nil
	}
	return errs
}
