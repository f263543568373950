package rediscache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluice-go/sluice/cache"
)

// Invalidator is a [cache.Invalidator] on Redis pub/sub. It is safe for concurrent use; the zero value is not
// usable, make one with [NewInvalidator]. One Invalidator can serve many caches: each subscription is one
// instance with its own id and its own connection.
type Invalidator struct {
	client redis.UniversalClient
	cfg    config
}

var _ cache.Invalidator = (*Invalidator)(nil)

// NewInvalidator returns an Invalidator publishing and subscribing through client. It fails if client is nil
// or an option is invalid.
func NewInvalidator(client redis.UniversalClient, opts ...Option) (*Invalidator, error) {
	if client == nil {
		return nil, errors.New("rediscache: NewInvalidator: client must not be nil")
	}
	cfg := config{channel: DefaultChannel, ping: DefaultPingInterval, backoff: DefaultRetryBackoff}
	for _, o := range opts {
		o.apply(&cfg)
	}
	switch {
	case cfg.channel == "":
		return nil, errors.New("rediscache: WithChannel: channel must not be empty")
	case cfg.ping <= 0:
		return nil, fmt.Errorf("rediscache: WithPingInterval: interval must be > 0, got %s", cfg.ping)
	case cfg.backoff <= 0:
		return nil, fmt.Errorf("rediscache: WithRetryBackoff: backoff must be > 0, got %s", cfg.backoff)
	}
	return &Invalidator{client: client, cfg: cfg}, nil
}

// Subscribe implements [cache.Invalidator]. It returns once Redis has confirmed the subscription, or once the
// first attempt has failed (ctx done or Redis unreachable); in that case the subscription keeps retrying in
// the background and h sees InvalidateAll when it succeeds.
func (i *Invalidator) Subscribe(ctx context.Context, h cache.InvalidationHandler) (cache.Subscription, error) {
	if h == nil {
		return nil, errors.New("rediscache: Subscribe: handler must not be nil")
	}
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("rediscache: Subscribe: instance id: %w", err)
	}
	s := &subscription{
		inv:    i,
		id:     hex.EncodeToString(raw[:]),
		h:      h,
		ps:     i.client.Subscribe(ctx),
		exited: make(chan struct{}),
	}
	// The subscription outlives ctx: it keeps ctx's values, not its cancellation, and ends with Close.
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	err := s.ps.Subscribe(ctx, i.cfg.channel)
	if err == nil {
		err = s.confirm(ctx)
	}
	go s.run(err == nil)
	return s, nil
}

// subscription is one instance's pub/sub connection and the goroutine reading it.
type subscription struct {
	inv *Invalidator
	id  string
	h   cache.InvalidationHandler
	// ctx is what run passes to every Redis call, including the dials of reconnections; Close cancels it, so
	// that it need not wait for a dial to time out.
	ctx       context.Context
	cancel    context.CancelFunc
	mu        sync.Mutex
	ps        *redis.PubSub // guarded by mu; replaced when its connection is found dead
	exited    chan struct{} // closed when run returns
	closeOnce sync.Once
	closeErr  error
}

// confirm waits for Redis to confirm the subscription, at most one ping interval.
func (s *subscription) confirm(ctx context.Context) error {
	for {
		msg, err := s.ps.ReceiveTimeout(ctx, s.inv.cfg.ping)
		if err != nil {
			return err
		}
		if sub, ok := msg.(*redis.Subscription); ok && sub.Kind == "subscribe" {
			return nil
		}
	}
}

// run reads the subscription until Close. healthy is whether the subscription is known to be live: while it
// is not, invalidations may be lost, so the handler drops everything when it stops being so, and again as soon
// as something arrives on the subscription (after a reconnect, the confirmation of the resubscription).
func (s *subscription) run(healthy bool) {
	defer close(s.exited)
	ctx := s.ctx
	if !healthy {
		s.h.InvalidateAll()
	}
	pinged := false
	for {
		msg, err := s.pubsub().ReceiveTimeout(ctx, s.inv.cfg.ping)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var nerr interface{ Timeout() bool }
			timeout := errors.As(err, &nerr) && nerr.Timeout()
			if healthy && !pinged && timeout {
				// Silent for a while: make the connection prove itself.
				if s.pubsub().Ping(ctx) == nil {
					pinged = true
					continue
				}
			}
			if healthy {
				healthy = false
				s.h.InvalidateAll()
			}
			if timeout && (pinged || !healthy) {
				// The PING went unanswered, or Redis has not confirmed the subscription for a whole ping
				// interval: the connection is dead or stuck without being closed, and go-redis only reconnects
				// after an error, so start over on a new connection.
				s.resubscribe(ctx)
			}
			pinged = false
			select {
			case <-ctx.Done():
				return
			case <-time.After(s.inv.cfg.backoff):
			}
			continue
		}
		pinged = false
		if !healthy {
			healthy = true
			s.h.InvalidateAll()
		}
		if m, ok := msg.(*redis.Message); ok {
			id, key, ok := strings.Cut(m.Payload, " ")
			if ok && id != s.id {
				s.h.Invalidate(key)
			}
		}
	}
}

func (s *subscription) pubsub() *redis.PubSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ps
}

// resubscribe replaces the subscription's connection.
func (s *subscription) resubscribe(ctx context.Context) {
	ps := s.inv.client.Subscribe(ctx)
	_ = ps.Subscribe(ctx, s.inv.cfg.channel) // on failure, ReceiveTimeout retries the connection
	s.mu.Lock()
	old := s.ps
	s.ps = ps
	s.mu.Unlock()
	old.Close()
}

// Publish implements [cache.Subscription]: the message is the instance id and the key.
func (s *subscription) Publish(ctx context.Context, key string) error {
	return s.inv.client.Publish(ctx, s.inv.cfg.channel, s.id+" "+key).Err()
}

// Close implements [cache.Subscription]. It cancels a reconnection in progress rather than waiting for it to
// time out (see the package doc for what go-redis lets it cut short).
func (s *subscription) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.closeErr = s.pubsub().Close()
		<-s.exited
		s.pubsub().Close() // in case run replaced it meanwhile
	})
	return s.closeErr
}
