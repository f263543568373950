package rediscache_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice/cache"
	"github.com/sluice-go/sluice/cache/rediscache"
)

// proxy forwards TCP connections to target and can freeze the ones open so far: they stay open but carry
// nothing, like a connection whose peer vanished without closing it. With swallowSubscribe, a connection
// freezes as it carries a SUBSCRIBE to Redis, so that the subscription is never confirmed.
type proxy struct {
	ln               net.Listener
	target           string
	swallowSubscribe atomic.Bool
	mu               sync.Mutex
	conns            []*proxyConn // guarded by mu
	wg               sync.WaitGroup
}

type proxyConn struct {
	client, server net.Conn
	frozen         atomic.Bool
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		pc := &proxyConn{client: c, server: s}
		p.mu.Lock()
		p.conns = append(p.conns, pc)
		p.mu.Unlock()
		p.wg.Go(func() { pc.pipe(s, c, &p.swallowSubscribe) })
		p.wg.Go(func() { pc.pipe(c, s, nil) })
	}
}

// subscribeCmd is how go-redis's SUBSCRIBE starts, in RESP.
var subscribeCmd = []byte("\r\nsubscribe\r\n")

// pipe copies src to dst until either closes; once frozen, it reads and drops. With swallow set, a SUBSCRIBE
// freezes the connection.
func (pc *proxyConn) pipe(dst, src net.Conn, swallow *atomic.Bool) {
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		if swallow != nil && swallow.Load() && bytes.Contains(buf[:n], subscribeCmd) {
			pc.frozen.Store(true)
		}
		if n > 0 && !pc.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			return
		}
	}
}

func (p *proxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.conns {
		pc.frozen.Store(true)
	}
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, pc := range p.conns {
		pc.client.Close()
		pc.server.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestSilentConnectionResubscribes: a subscription whose connection goes silent notices by PING, drops the
// local tier and subscribes again on a new connection.
func TestSilentConnectionResubscribes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		ns := namespace(t, b.addr)
		var src db
		a := newInstance(t, b.addr, ns, &src)

		px := newProxy(t, b.addr)
		client := newClient(t, px.ln.Addr().String(), "")
		store, _ := rediscache.New(client)
		inv, err := rediscache.NewInvalidator(client, rediscache.WithChannel(ns+":invalidate"),
			rediscache.WithPingInterval(100*time.Millisecond), rediscache.WithRetryBackoff(10*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		local := newNotifyLocal(t)
		c, err := cache.New[string, string](cache.WithRemote(store), cache.WithInvalidation(inv),
			cache.WithLocalTier(local), cache.WithNamespace(ns, 1), cache.WithLoader(src.load))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Get(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		drain(local.purged)
		px.freeze()
		deadline := time.After(10 * time.Second)
		for flushes := 0; flushes < 2; flushes++ {
			select {
			case <-local.purged:
			case <-deadline:
				t.Fatalf("%d local flushes after the connection went silent, want 2", flushes)
			}
		}
		// Delivery works on the new connection.
		c.Get(ctx, "k")
		drain(local.deleted)
		deleteUntilDelivered(t, a, local, deadline, "no invalidation delivered after resubscribing")
	})
}

// TestUnconfirmedSubscriptionResubscribes: a subscription that Redis never confirms (its SUBSCRIBE was lost on
// a connection that then went silent) is started over on a new connection, instead of waiting on the silent
// one for ever while invalidations are lost.
func TestUnconfirmedSubscriptionResubscribes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ns := namespace(t, b.addr)
		var src db
		a := newInstance(t, b.addr, ns, &src)

		px := newProxy(t, b.addr)
		px.swallowSubscribe.Store(true)
		client := newClient(t, px.ln.Addr().String(), "")
		inv, err := rediscache.NewInvalidator(client, rediscache.WithChannel(ns+":invalidate"),
			rediscache.WithPingInterval(100*time.Millisecond), rediscache.WithRetryBackoff(10*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		local := newNotifyLocal(t)
		c, err := cache.New[string, string](cache.WithInvalidation(inv), cache.WithLocalTier(local),
			cache.WithNamespace(ns, 1), cache.WithLoader(src.load))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// New has returned: the subscription went unconfirmed for a ping interval. New connections work again.
		px.swallowSubscribe.Store(false)
		deadline := time.After(10 * time.Second)
		deleteUntilDelivered(t, a, local, deadline,
			"no invalidation delivered: the unconfirmed subscription was never started over")
	})
}

// deleteUntilDelivered deletes key "k" through a every 100ms until local hears of an invalidation, and fails with
// msg if deadline comes first: a subscription being started over may miss the first deletes.
func deleteUntilDelivered(t *testing.T, a *instance, local *notifyLocal, deadline <-chan time.Time, msg string) {
	t.Helper()
	for {
		if err := a.c.Delete(context.Background(), "k"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-local.deleted:
			return
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatal(msg)
		}
	}
}
