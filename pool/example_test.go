package pool_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-go/sluice/pool"
)

// Conn stands for a connection to a database or another service.
type Conn struct{ id int }

func (c *Conn) Close()                         { fmt.Printf("conn %d closed\n", c.id) }
func (c *Conn) Ping(ctx context.Context) error { return nil }

func Example() {
	next := 0
	dial := func(ctx context.Context) (*Conn, error) {
		next++
		return &Conn{id: next}, nil
	}
	p, err := pool.New(dial,
		pool.WithMaxSize(4),
		pool.WithDestroy(func(c *Conn) { c.Close() }), // the type is inferred: no pool.WithDestroy[*Conn]
		pool.WithValidate(func(ctx context.Context, c *Conn) error { return c.Ping(ctx) }, time.Second, 5*time.Second),
		pool.WithMaxLifetime(30*time.Minute, 0.025),
		pool.WithMaxIdleTime(10*time.Minute),
	)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	r, err := p.Acquire(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("using conn", r.Value().id)
	r.Release()

	r, _ = p.Acquire(ctx) // the idle conn is reused
	fmt.Println("using conn", r.Value().id)
	r.Release()

	if err := p.Close(ctx); err != nil {
		panic(err)
	}
	_, err = p.Acquire(ctx)
	fmt.Println(errors.Is(err, pool.ErrClosed))
	// Output:
	// using conn 1
	// using conn 1
	// conn 1 closed
	// true
}

// A broken resource is destroyed rather than released; the pool creates a replacement when one is needed.
func ExampleResource_Destroy() {
	next := 0
	p, _ := pool.New(func(ctx context.Context) (*Conn, error) {
		next++
		return &Conn{id: next}, nil
	}, pool.WithMaxSize(1), pool.WithDestroy(func(c *Conn) { c.Close() }))
	ctx := context.Background()

	r, _ := p.Acquire(ctx)
	r.Destroy() // say a query failed with a network error
	// The slot is free once conn 1 is closed, so there are never more than WithMaxSize conns open.

	r, _ = p.Acquire(ctx)
	fmt.Println("using conn", r.Value().id)
	r.Release()
	_ = p.Close(ctx)
	// Output:
	// conn 1 closed
	// using conn 2
	// conn 2 closed
}

// Hooks report every event, for metrics or logs, without the pool depending on either.
func ExampleWithHook() {
	p, _ := pool.New(func(ctx context.Context) (*Conn, error) { return &Conn{}, nil },
		pool.WithHook(func(e pool.Event) {
			switch e.Kind {
			case pool.EventDestroyed:
				fmt.Println(e.Kind, e.Reason)
			case pool.EventCreated, pool.EventAcquired, pool.EventReleased:
				fmt.Println(e.Kind)
			}
		}))
	ctx := context.Background()
	r, _ := p.Acquire(ctx)
	r.Release()
	_ = p.Close(ctx)
	// Output:
	// created
	// acquired
	// released
	// destroyed closed
}

// TryAcquire never blocks: it serves load shedding and "use it if it is free" paths.
func ExamplePool_TryAcquire() {
	p, _ := pool.New(func(ctx context.Context) (*Conn, error) { return &Conn{}, nil }, pool.WithMaxSize(1))
	ctx := context.Background()
	r, _ := p.Acquire(ctx)
	if _, err := p.TryAcquire(); errors.Is(err, pool.ErrExhausted) {
		fmt.Println("busy: shed the request")
	}
	r.Release()
	s := p.Stats()
	fmt.Printf("total %d, idle %d, acquires %d\n", s.Total, s.Idle, s.Acquires)
	_ = p.Close(ctx)
	// Output:
	// busy: shed the request
	// total 1, idle 1, acquires 1
}
