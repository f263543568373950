package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// config is the service's configuration, from flags, each of which can also be set by an environment variable
// named ORDERSVC_ and the flag's name in upper case with dashes as underscores (-redis: ORDERSVC_REDIS).
// A flag on the command line wins over the environment.
type config struct {
	Addr               string
	DB                 string // "" for an embedded SQLite database, or a PostgreSQL URL
	Redis              string // "" for an embedded Redis (miniredis), or host:port
	NATS               string // "" for an embedded NATS JetStream server, or a NATS URL
	Kafka              string // comma-separated seed brokers; publishes to Kafka instead of NATS when set
	DataDir            string // where the embedded database and JetStream keep their files; "" for a temporary one
	Topic              string // subject prefix (NATS) or topic (Kafka) of order events
	Namespace          string // prefix of the Redis keys (cache and shared rate limits)
	TrustedProxies     string // comma-separated CIDRs whose X-Forwarded-For the rate limiter believes
	RatePerClient      int
	Burst              int
	SharedLimit        bool // keep the rate-limit quota in Redis, shared by every instance
	RequestTimeout     time.Duration
	BreakerOpenTimeout time.Duration
	ShutdownTimeout    time.Duration
	DrainDelay         time.Duration
	PaymentFaults      FaultSettings
	InventoryFaults    FaultSettings
	PaymentAddr        string
	InventoryAddr      string
	LogLevel           string
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("orderservice", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Addr, "addr", ":8080", "listen address of the HTTP API")
	fs.StringVar(&c.DB, "db", "", "PostgreSQL URL (postgres://...); empty for an embedded SQLite database")
	fs.StringVar(&c.Redis, "redis", "", "Redis address host:port for the shared cache tier; empty for an embedded Redis")
	fs.StringVar(&c.NATS, "nats", "", "NATS URL for the outbox; empty for an embedded NATS JetStream server")
	fs.StringVar(&c.Kafka, "kafka", "", "Kafka seed brokers (comma-separated); publishes order events to Kafka instead of NATS")
	fs.StringVar(&c.DataDir, "data-dir", "", "directory for the embedded database and JetStream; empty for a temporary one removed at exit")
	fs.StringVar(&c.Topic, "topic", "orders", "subject prefix (NATS) or topic (Kafka) of order events")
	fs.StringVar(&c.Namespace, "namespace", "orderservice", "prefix of the Redis keys (cache and shared rate limits)")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated CIDRs of proxies whose X-Forwarded-For names the client for rate limiting")
	fs.IntVar(&c.RatePerClient, "rate", 20, "requests per second allowed per client IP")
	fs.IntVar(&c.Burst, "burst", 40, "burst allowed per client IP")
	fs.BoolVar(&c.SharedLimit, "shared-limit", false, "keep the per-client quota in Redis, shared by every instance")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", 2*time.Second, "server-side time budget of one request")
	fs.DurationVar(&c.BreakerOpenTimeout, "breaker-open-timeout", 2*time.Second, "how long the payment breaker stays open before probing")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long shutdown waits for in-flight work")
	fs.DurationVar(&c.DrainDelay, "drain-delay", 0, "how long /readyz fails before the server stops accepting at shutdown, "+
		"so that load balancers stop sending first (a few seconds behind one; 0 to stop at once)")
	fs.Float64Var(&c.PaymentFaults.FailureRate, "payment-failure-rate", 0, "share of payment calls that fail, in [0, 1]")
	fs.Var((*durationFlag)(&c.PaymentFaults.Latency), "payment-latency", "`duration` added to each payment call")
	fs.BoolVar(&c.PaymentFaults.Outage, "payment-outage", false, "start with the payment gateway down")
	fs.Float64Var(&c.InventoryFaults.FailureRate, "inventory-failure-rate", 0, "share of inventory calls that fail, in [0, 1]")
	fs.Var((*durationFlag)(&c.InventoryFaults.Latency), "inventory-latency", "`duration` added to each inventory call")
	fs.StringVar(&c.PaymentAddr, "payment-addr", "127.0.0.1:0", "listen address of the simulated payment gateway")
	fs.StringVar(&c.InventoryAddr, "inventory-addr", "127.0.0.1:0", "listen address of the simulated inventory service")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: orderservice [flags]\n\nAn order service built from Sluice's building blocks.\n"+
			"Every flag can also be set as ORDERSVC_<NAME> (for -redis: ORDERSVC_REDIS).\n\nFlags:\n")
		fs.PrintDefaults()
	}

	// The environment provides defaults; the command line overrides them.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "ORDERSVC_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return c, c.validate()
}

func (c config) validate() error {
	switch {
	case c.RatePerClient < 1:
		return fmt.Errorf("-rate must be >= 1, got %d", c.RatePerClient)
	case c.Burst < 1:
		return fmt.Errorf("-burst must be >= 1, got %d", c.Burst)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("-request-timeout must be > 0, got %s", c.RequestTimeout)
	case c.BreakerOpenTimeout <= 0:
		return fmt.Errorf("-breaker-open-timeout must be > 0, got %s", c.BreakerOpenTimeout)
	case c.Topic == "" || strings.ContainsAny(c.Topic, " *>"):
		return fmt.Errorf("-topic must be a non-empty subject without spaces or wildcards, got %q", c.Topic)
	case c.ShutdownTimeout <= 0:
		return fmt.Errorf("-shutdown-timeout must be > 0, got %s", c.ShutdownTimeout)
	case c.DrainDelay < 0:
		return fmt.Errorf("-drain-delay must be >= 0, got %s", c.DrainDelay)
	case c.DB != "" && !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://"):
		scheme, _, _ := strings.Cut(c.DB, "://") // not the whole value, which may hold a password
		return fmt.Errorf("-db must be a postgres:// URL or empty, got one starting %q", scheme)
	}
	if err := c.PaymentFaults.Validate(); err != nil {
		return fmt.Errorf("payment faults: %w", err)
	}
	if err := c.InventoryFaults.Validate(); err != nil {
		return fmt.Errorf("inventory faults: %w", err)
	}
	return nil
}

type durationFlag Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }

func (d *durationFlag) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("must be >= 0, got %s", v)
	}
	*d = durationFlag(v)
	return nil
}
