package rediscache

import "time"

// Option configures an [Invalidator] made by [NewInvalidator].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Defaults of [NewInvalidator].
const (
	DefaultChannel      = "sluice:cache:invalidate"
	DefaultPingInterval = 15 * time.Second
	DefaultRetryBackoff = 100 * time.Millisecond
)

type config struct {
	channel string
	ping    time.Duration
	backoff time.Duration
}

// WithChannel sets the Redis channel invalidations travel on (default [DefaultChannel]). Caches with different
// namespaces may share a channel: each ignores keys outside its namespace. Repeating it keeps the last.
func WithChannel(name string) Option {
	return optionFunc(func(c *config) { c.channel = name })
}

// WithPingInterval sets how long a subscription may stay silent before it sends a PING to check its
// connection, and how long it waits for the answer, or for Redis to confirm a subscription, before it starts
// over on a new connection (default [DefaultPingInterval]). Repeating it keeps the last.
func WithPingInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.ping = d })
}

// WithRetryBackoff sets the pause between attempts to re-subscribe after the connection was lost (default
// [DefaultRetryBackoff]). Repeating it keeps the last.
func WithRetryBackoff(d time.Duration) Option {
	return optionFunc(func(c *config) { c.backoff = d })
}
