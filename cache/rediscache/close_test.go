package rediscache_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluice-go/sluice/cache"
	"github.com/sluice-go/sluice/cache/rediscache"
)

// hangingDialer stands for a Redis that went away behind a network that drops packets: the first dial is
// refused at once, every later one hangs until its context is done or the dial timeout passes, as a dial to
// an address that never answers does.
type hangingDialer struct {
	timeout time.Duration
	calls   atomic.Int64
	hanging chan struct{} // receives when a dial starts hanging
}

func (d *hangingDialer) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	if d.calls.Add(1) == 1 {
		var nd net.Dialer
		return nd.DialContext(ctx, network, "127.0.0.1:1")
	}
	select {
	case d.hanging <- struct{}{}:
	default:
	}
	timer := time.NewTimer(d.timeout)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-timer.C:
		return nil, &net.OpError{Op: "dial", Net: network, Err: context.DeadlineExceeded}
	}
}

// TestCloseWhileReconnecting: Close does not wait for the dial of a reconnection to time out.
func TestCloseWhileReconnecting(t *testing.T) {
	const dialTimeout = 10 * time.Second
	d := &hangingDialer{timeout: dialTimeout, hanging: make(chan struct{}, 1)}
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", Dialer: d.dial, DialTimeout: dialTimeout,
		MaxRetries: -1})
	defer client.Close()
	inv, err := rediscache.NewInvalidator(client, rediscache.WithRetryBackoff(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New[string, string](cache.WithInvalidation(inv))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.hanging: // the subscription is reconnecting, and its dial hangs
	case <-time.After(dialTimeout):
		c.Close()
		t.Fatal("the subscription did not try to reconnect")
	}
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Close took %s while a reconnection's dial hung, want it well under the %s dial timeout",
			el, dialTimeout)
	}
}
