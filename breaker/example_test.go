package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-go/sluice/breaker"
)

// The breaker opens once half of the last 10 calls failed, and then rejects calls without making them.
func Example() {
	b, err := breaker.New(
		breaker.WithCountWindow(10),
		breaker.WithMinimumCalls(10),
		breaker.WithFailureRate(0.5),
		breaker.WithOpenTimeout(30*time.Second),
		breaker.WithOnStateChange(func(tr breaker.Transition) {
			fmt.Printf("%v -> %v (%v: %d of %d calls failed)\n",
				tr.From, tr.To, tr.Reason, tr.Metrics.Failures, tr.Metrics.Calls)
		}),
	)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	down := errors.New("payment provider down")
	for i := range 12 {
		err := b.Do(ctx, func(context.Context) error {
			if i >= 5 {
				return down
			}
			return nil
		})
		if errors.Is(err, breaker.ErrOpen) {
			fmt.Printf("call %d rejected\n", i)
		}
	}
	// Output:
	// closed -> open (failure rate: 5 of 10 calls failed)
	// call 10 rejected
	// call 11 rejected
}

// Call wraps a function that returns a value.
func ExampleCall() {
	b, _ := breaker.New()
	price, err := breaker.Call(context.Background(), b, func(ctx context.Context) (float64, error) {
		return 9.99, nil // a request to the pricing service
	})
	fmt.Println(price, err)
	// Output: 9.99 <nil>
}

// Allow and Done fit calls that are not a function, like a streamed response: the permit is a plain value.
func ExampleBreaker_Allow() {
	b, _ := breaker.New(breaker.WithConsecutiveFailures(2))
	for range 3 {
		p, err := b.Allow()
		if err != nil {
			fmt.Println("rejected:", errors.Is(err, breaker.ErrOpen))
			continue
		}
		err = errors.New("stream broke") // open a stream, read it to the end...
		p.Done(err)
	}
	fmt.Println(b.State())
	// Output:
	// rejected: true
	// open
}

// An open breaker's error tells when it will let a probe through, for a Retry-After header.
func ExampleOpenError() {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := start
	b, _ := breaker.New(breaker.WithConsecutiveFailures(1), breaker.WithOpenTimeout(time.Minute),
		breaker.WithClock(func() time.Time { return now }))
	_ = b.Do(context.Background(), func(context.Context) error { return errors.New("timeout") })

	now = now.Add(20 * time.Second)
	err := b.Do(context.Background(), func(context.Context) error { return nil })
	var oe *breaker.OpenError
	if errors.As(err, &oe) {
		fmt.Println("Retry-After:", oe.RetryAfter(now))
	}
	// Output: Retry-After: 40s
}

// Manual controls take the breaker out of its rules, for maintenance or an incident.
func ExampleBreaker_ForceOpen() {
	b, _ := breaker.New()
	b.ForceOpen()
	fmt.Println(b.State(), errors.Is(b.Do(context.Background(), func(context.Context) error { return nil }), breaker.ErrOpen))
	b.Disable()
	fmt.Println(b.State())
	b.Reset()
	fmt.Println(b.State())
	// Output:
	// forced-open true
	// disabled
	// closed
}
