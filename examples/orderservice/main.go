// Command orderservice is an order service built from Sluice's building blocks: per-client rate limiting, a
// circuit breaker in front of the payment gateway, a connection pool to the inventory service, a two-level
// cache of user profiles and a transactional outbox publishing order events. It runs with no servers to
// install; see README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts a graceful shutdown; giving the signals back to the runtime then lets a second
	// one end the process at once, should the drain hang.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "orderservice:", err)
		os.Exit(1)
	}
}
