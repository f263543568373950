package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/sluice-go/sluice/pool"
)

var (
	errOutOfStock           = errors.New("out of stock")
	errInventoryUnavailable = errors.New("inventory service unavailable")
)

// invConn is one long-lived connection to the inventory service.
type invConn struct {
	c net.Conn
	r *bufio.Reader
}

// roundTrip sends one request line and reads one reply line, bounded by ctx's deadline.
func (c *invConn) roundTrip(ctx context.Context, line string) (string, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	if err := c.c.SetDeadline(deadline); err != nil {
		return "", err
	}
	if _, err := c.c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	reply, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(reply), nil
}

// inventoryClient reserves stock over a pool of connections: connections are dialled ahead of need (min idle),
// reused warm-first, checked before reuse when they idled a while, retired after a jittered lifetime so they do
// not all reconnect at once, and replaced when broken.
type inventoryClient struct {
	pool *pool.Pool[*invConn]
}

func newInventoryClient(addr string, hook func(pool.Event)) (*inventoryClient, error) {
	dial := func(ctx context.Context) (*invConn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return &invConn{c: c, r: bufio.NewReader(c)}, nil
	}
	ping := func(ctx context.Context, c *invConn) error {
		reply, err := c.roundTrip(ctx, "PING")
		if err == nil && reply != "PONG" {
			err = fmt.Errorf("unexpected reply %q", reply)
		}
		return err
	}
	p, err := pool.New(dial,
		pool.WithMaxSize(16),
		pool.WithMinIdle(2),
		pool.WithMaxIdleTime(time.Minute),
		pool.WithMaxLifetime(10*time.Minute, 0.1),
		pool.WithValidate(ping, 5*time.Second, 200*time.Millisecond), // after 5s idle, PING within 200ms
		pool.WithKeepalive(30*time.Second),
		pool.WithDestroy(func(c *invConn) { c.c.Close() }),
		pool.WithCreateTimeout(time.Second),
		pool.WithHook(hook),
	)
	if err != nil {
		return nil, err
	}
	return &inventoryClient{pool: p}, nil
}

// Reserve takes qty units of sku for orderID.
func (ic *inventoryClient) Reserve(ctx context.Context, sku string, qty int, orderID string) error {
	return ic.do(ctx, fmt.Sprintf("RESERVE %s %d %s", sku, qty, orderID))
}

// Release gives back a reservation of qty units of sku made for orderID.
func (ic *inventoryClient) Release(ctx context.Context, sku string, qty int, orderID string) error {
	return ic.do(ctx, fmt.Sprintf("RELEASE %s %d %s", sku, qty, orderID))
}

// do sends one command on a pooled connection and maps the reply to an error.
func (ic *inventoryClient) do(ctx context.Context, cmd string) error {
	res, err := ic.pool.Acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("%w: %v", errInventoryUnavailable, err)
	}
	reply, err := res.Value().roundTrip(ctx, cmd)
	if err != nil {
		res.Destroy() // a connection that failed mid-exchange is in an unknown state
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("%w: %v", errInventoryUnavailable, err)
	}
	res.Release()
	switch reply {
	case "OK":
		return nil
	case "ERR out_of_stock":
		return errOutOfStock
	default:
		return fmt.Errorf("%w: %s", errInventoryUnavailable, reply)
	}
}

func (ic *inventoryClient) Close(ctx context.Context) error { return ic.pool.Close(ctx) }
