package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/sluice-go/sluice/cache"
	"github.com/sluice-go/sluice/cache/rediscache"
	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/kafkapub"
	"github.com/sluice-go/sluice/outbox/natspub"
)

// seededUsers is how many user profiles the service creates at start.
const seededUsers = 1000

// app is the service's dependencies. newApp builds them, each registering how it is closed, and close tears
// them down in the reverse order.
type app struct {
	cfg     config
	log     *zap.Logger
	metrics *metrics

	store     *store
	users     *cache.Cache[int64, user]
	redis     redis.UniversalClient
	payment   *paymentClient
	inventory *inventoryClient
	relay     *outbox.Relay

	gateway      *paymentGateway   // the simulated payment gateway
	stock        *inventoryService // the simulated inventory service
	brokerFaults *Faults           // fault injection between the relay and the broker

	natsURL string // the broker the relay publishes to, when NATS
	stream  string // the JetStream stream holding order events, when NATS
	addr    string // the address the API listens on, once listening

	draining atomic.Bool // set when shutdown begins, so that /readyz turns away new traffic
	closers  []func(context.Context) error
}

// onClose registers f to run at close, before everything registered earlier.
func (a *app) onClose(f func(context.Context) error) { a.closers = append(a.closers, f) }

func (a *app) close(ctx context.Context) error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i](ctx))
	}
	a.closers = nil
	return errors.Join(errs...)
}

// newApp builds every dependency. On error, what was built is closed again.
func newApp(ctx context.Context, cfg config, log *zap.Logger) (_ *app, err error) {
	a := &app{cfg: cfg, log: log, metrics: newMetrics(), brokerFaults: &Faults{}}
	defer func() {
		if err != nil {
			_ = a.close(context.WithoutCancel(ctx))
		}
	}()

	dataDir := cfg.DataDir
	if dataDir == "" {
		if dataDir, err = os.MkdirTemp("", "orderservice-"); err != nil {
			return nil, err
		}
		a.onClose(func(context.Context) error { return os.RemoveAll(dataDir) })
	}

	// The simulated dependencies, each on its own loopback port.
	if a.gateway, err = startPaymentGateway(cfg.PaymentAddr); err != nil {
		return nil, err
	}
	a.onClose(a.gateway.Close)
	if err = a.gateway.Faults.Set(cfg.PaymentFaults); err != nil {
		return nil, err
	}
	if a.stock, err = startInventory(cfg.InventoryAddr, initialStock()); err != nil {
		return nil, err
	}
	a.onClose(func(context.Context) error { return a.stock.Close() })
	if err = a.stock.Faults.Set(cfg.InventoryFaults); err != nil {
		return nil, err
	}

	// The database: orders, users and the outbox in one place, so that they share transactions.
	if a.store, err = openStore(ctx, cfg.DB, dataDir); err != nil {
		return nil, err
	}
	a.onClose(func(context.Context) error { a.store.close(); return nil })
	if err = a.store.seedUsers(ctx, seededUsers); err != nil {
		return nil, err
	}

	// The clients, each wrapped in its building block.
	if a.payment, err = newPaymentClient(a.gateway.URL(), cfg.BreakerOpenTimeout, a.metrics.breakerChanged); err != nil {
		return nil, err
	}
	a.onClose(func(context.Context) error { a.payment.http.CloseIdleConnections(); return nil })
	if a.inventory, err = newInventoryClient(a.stock.Addr(), a.metrics.poolEvent); err != nil {
		return nil, err
	}
	a.onClose(a.inventory.Close)
	a.metrics.registerPool(a.inventory.pool.Stats)

	if err = a.openCache(ctx); err != nil {
		return nil, err
	}
	if err = a.openRelay(ctx, dataDir); err != nil {
		return nil, err
	}
	return a, nil
}

// openCache builds the user profile cache: a local LRU in front of Redis in front of the users table.
func (a *app) openCache(ctx context.Context) error {
	addr := a.cfg.Redis
	if addr == "" {
		mr, err := miniredis.Run()
		if err != nil {
			return fmt.Errorf("embedded redis: %w", err)
		}
		a.onClose(func(context.Context) error { mr.Close(); return nil })
		addr = mr.Addr()
	}
	a.redis = redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 2 * time.Second, ContextTimeoutEnabled: true})
	a.onClose(func(context.Context) error { return a.redis.Close() })
	if err := a.redis.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis %s: %w", addr, err)
	}
	remote, err := rediscache.New(a.redis)
	if err != nil {
		return err
	}
	a.users, err = cache.New[int64, user](
		cache.WithLocal(10_000, 30*time.Second),      // hot profiles stay in process for 30s
		cache.WithRemote(remote),                     // then Redis, shared by every instance
		cache.WithRemoteTTL(5*time.Minute),           // which keeps them 5 minutes (jittered)
		cache.WithRemoteTimeout(50*time.Millisecond), // a slow Redis falls through to the database
		cache.WithNamespace(a.cfg.Namespace+":users", 1),
		cache.WithNegativeTTL(10*time.Second), // unknown IDs are remembered too, so they cannot hammer the DB
		cache.WithLoader(func(ctx context.Context, id int64) (user, error) {
			u, err := a.store.getUser(ctx, id)
			if errors.Is(err, errNotFound) {
				return u, cache.ErrNotFound
			}
			return u, err
		}),
	)
	if err != nil {
		return err
	}
	a.onClose(func(context.Context) error { return a.users.Close() })
	a.metrics.registerCache(a.users.Stats)
	return nil
}

// openRelay connects to the broker (an embedded NATS JetStream server by default) and builds the outbox
// relay that publishes order events from the outbox table. run starts and stops it.
func (a *app) openRelay(ctx context.Context, dataDir string) error {
	var pub outbox.Publisher
	var js jetstream.JetStream
	if a.cfg.Kafka != "" {
		cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(a.cfg.Kafka, ",")...), kgo.AllowAutoTopicCreation())
		if err != nil {
			return fmt.Errorf("kafka: %w", err)
		}
		a.onClose(func(context.Context) error { cl.Close(); return nil })
		if pub, err = kafkapub.New(cl); err != nil {
			return err
		}
	} else {
		a.natsURL = a.cfg.NATS
		if a.natsURL == "" {
			ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
				StoreDir: filepath.Join(dataDir, "jetstream"), NoLog: true, NoSigs: true})
			if err != nil {
				return fmt.Errorf("embedded nats: %w", err)
			}
			go ns.Start()
			a.onClose(func(context.Context) error { ns.Shutdown(); ns.WaitForShutdown(); return nil })
			if !ns.ReadyForConnections(10 * time.Second) {
				return errors.New("embedded nats: not ready within 10s")
			}
			a.natsURL = ns.ClientURL()
		}
		nc, err := nats.Connect(a.natsURL, nats.Name("orderservice"), nats.MaxReconnects(-1))
		if err != nil {
			return fmt.Errorf("nats %s: %w", a.natsURL, err)
		}
		a.onClose(func(context.Context) error { nc.Close(); return nil })
		if js, err = jetstream.New(nc); err != nil {
			return err
		}
		if pub, err = natspub.New(js, natspub.WithLogger(a.log)); err != nil {
			return err
		}
	}

	relay, err := outbox.NewRelay(a.store.relay, brokerPublisher{pub, a.brokerFaults},
		outbox.WithBackoff(50*time.Millisecond, 2*time.Second), // retry a broker outage every 2s at most
		outbox.WithMaxAttempts(200),                            // about 6 minutes of outage before dead-lettering
		outbox.WithStatsInterval(time.Second),
		outbox.WithHook(a.metrics.outboxEvent),
		outbox.WithLogger(a.log.Named("outbox")),
	)
	if err != nil {
		return err
	}
	a.relay = relay

	if js != nil {
		// The stream's duplicate window must cover every retry of a message, so that JetStream drops the copy a
		// relay sends again after a lost acknowledgement.
		a.stream = streamName(a.cfg.Topic)
		_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: a.stream, Subjects: []string{a.cfg.Topic + ".>"}, Duplicates: relay.RetryHorizon(),
			MaxAge: 24 * time.Hour,
		})
		if err != nil {
			return fmt.Errorf("creating stream %s: %w", a.stream, err)
		}
	}
	return nil
}

// streamName derives a JetStream stream name from the subject prefix of order events.
func streamName(topic string) string {
	return "ORDERS_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, topic)
}

// brokerPublisher plays the broker's fault injection: while its outage is on, every publish fails, so the
// relay keeps messages in the outbox and retries them with backoff, and delivers them once the outage ends.
type brokerPublisher struct {
	next   outbox.Publisher
	faults *Faults
}

func (p brokerPublisher) Publish(ctx context.Context, msgs []outbox.Message) []error {
	if err := p.faults.Apply(ctx); err != nil {
		errs := make([]error, len(msgs))
		for i := range errs {
			errs[i] = fmt.Errorf("broker: %w", err)
		}
		return errs
	}
	return p.next.Publish(ctx, msgs)
}

// initialStock is the simulated inventory's stock at start.
func initialStock() map[string]int {
	stock := make(map[string]int, len(catalog))
	for sku := range catalog {
		stock[sku] = 1_000_000
	}
	stock["sku-rare"] = 1
	return stock
}

// catalog is the price of each SKU, in cents.
var catalog = map[string]int64{
	"sku-1":    1999,
	"sku-2":    4500,
	"sku-3":    120,
	"sku-rare": 99900,
}
