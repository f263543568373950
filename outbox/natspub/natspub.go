// Package natspub publishes outbox messages to NATS JetStream (github.com/nats-io/nats.go/jetstream).
//
// Each message is published asynchronously with Nats-Msg-Id set to its ID, so JetStream drops the copies a
// relay sends again after a crash or a lost acknowledgement, as long as they arrive within the stream's
// duplicate window (StreamConfig.Duplicates, 2 minutes by default). A batch is pipelined and the publisher
// waits for every acknowledgement before returning. Use [Publisher.CheckDuplicateWindow] at start-up to
// make sure the window covers the relay's retry horizon ([outbox.Relay.RetryHorizon]).
package natspub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/sluice-go/sluice/outbox"
)

// KeyHeader carries a message's Key, so consumers can see it without parsing the payload.
const KeyHeader = "Outbox-Key"

// ErrDuplicateWindow is returned by [Publisher.CheckDuplicateWindow] when a stream's duplicate window is
// shorter than the horizon over which a message can be sent again.
var ErrDuplicateWindow = errors.New("natspub: stream duplicate window shorter than the retry horizon")

// Option configures a [Publisher].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	subject    func(outbox.Message) string
	ackTimeout time.Duration
	logger     *zap.Logger
}

// WithSubject sets how a message's subject is chosen (default: its Topic). The last one wins.
func WithSubject(f func(m outbox.Message) string) Option {
	return optionFunc(func(c *config) { c.subject = f })
}

// WithAckTimeout bounds how long a batch waits for its acknowledgements (default 10s); messages not
// acknowledged by then fail and are retried. The last one wins.
func WithAckTimeout(d time.Duration) Option { return optionFunc(func(c *config) { c.ackTimeout = d }) }

// WithLogger sets the logger for warnings such as a short duplicate window (default a no-op). The last one wins.
func WithLogger(l *zap.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

// Publisher is an [outbox.Publisher] for JetStream. Create it with [New]; it is safe for concurrent use.
type Publisher struct {
	js  jetstream.JetStream
	cfg config
}

var _ outbox.Publisher = (*Publisher)(nil)

// New returns a publisher sending through js.
func New(js jetstream.JetStream, opts ...Option) (*Publisher, error) {
	if js == nil {
		return nil, errors.New("natspub: New: js must not be nil")
	}
	cfg := config{subject: func(m outbox.Message) string { return m.Topic }, ackTimeout: 10 * time.Second, logger: zap.NewNop()}
	for _, o := range opts {
		o.apply(&cfg)
	}
	switch {
	case cfg.subject == nil:
		return nil, errors.New("natspub: WithSubject: function must not be nil, got nil")
	case cfg.ackTimeout <= 0:
		return nil, fmt.Errorf("natspub: WithAckTimeout: timeout must be > 0, got %s", cfg.ackTimeout)
	case cfg.logger == nil:
		return nil, errors.New("natspub: WithLogger: logger must not be nil, got nil")
	}
	return &Publisher{js: js, cfg: cfg}, nil
}

// Publish implements [outbox.Publisher]: it sends msgs pipelined and waits for their acknowledgements.
func (p *Publisher) Publish(ctx context.Context, msgs []outbox.Message) []error {
	var errs []error
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(msgs))
		}
		errs[i] = err
	}
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		nm := &nats.Msg{Subject: p.cfg.subject(m), Data: m.Payload, Header: make(nats.Header, len(m.Headers)+2)}
		for k, v := range m.Headers {
			nm.Header.Set(k, v)
		}
		if m.Key != "" {
			nm.Header.Set(KeyHeader, m.Key)
		}
		nm.Header.Set(jetstream.MsgIDHeader, m.ID)
		f, err := p.js.PublishMsgAsync(nm)
		if err != nil {
			fail(i, fmt.Errorf("natspub: publishing %s: %w", m.ID, err))
			continue
		}
		futures[i] = f
	}
	timer := time.NewTimer(p.cfg.ackTimeout)
	defer timer.Stop()
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			fail(i, fmt.Errorf("natspub: publishing %s: %w", msgs[i].ID, err))
		case <-ctx.Done():
			fail(i, ctx.Err())
		case <-timer.C:
			// Later futures still get their chance if already acknowledged; unacknowledged ones fail.
			timer.Reset(0)
			select {
			case <-f.Ok():
			default:
				fail(i, fmt.Errorf("natspub: publishing %s: no acknowledgement within %s", msgs[i].ID, p.cfg.ackTimeout))
			}
		}
	}
	return errs
}

// CheckDuplicateWindow compares stream's duplicate window with horizon, the longest time over which a
// message may be sent again (see [outbox.Relay.RetryHorizon]). When the window is shorter it logs a warning
// and returns an error wrapping [ErrDuplicateWindow]: duplicates sent after the window reach consumers.
func (p *Publisher) CheckDuplicateWindow(ctx context.Context, stream string, horizon time.Duration) (time.Duration, error) {
	s, err := p.js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("natspub: reading stream %s: %w", stream, err)
	}
	window := s.CachedInfo().Config.Duplicates
	if window < horizon {
		p.cfg.logger.Warn("natspub: duplicate window shorter than the retry horizon; late duplicates will not be removed",
			zap.String("stream", stream), zap.Duration("window", window), zap.Duration("horizon", horizon))
		return window, fmt.Errorf("%w: stream %s window %s, horizon %s", ErrDuplicateWindow, stream, window, horizon)
	}
	return window, nil
}
