package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-go/sluice/ratelimit"
)

// fakeNow is a clock the examples move by hand, so that their output does not depend on the machine.
type fakeNow struct{ t time.Time }

func (c *fakeNow) Now() time.Time          { return c.t }
func (c *fakeNow) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newFakeNow() *fakeNow { return &fakeNow{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func ExampleNewTokenBucket() {
	clock := newFakeNow()
	// 10 events per second on average, at most 3 at once.
	b, err := ratelimit.NewTokenBucket(ratelimit.PerSecond(10), ratelimit.WithBurst(3), ratelimit.WithClock(clock.Now))
	if err != nil {
		panic(err)
	}
	for i := range 4 {
		fmt.Println("call", i, b.Allow())
	}
	clock.Advance(100 * time.Millisecond) // one token back
	fmt.Println("after 100ms", b.Allow())
	// Output:
	// call 0 true
	// call 1 true
	// call 2 true
	// call 3 false
	// after 100ms true
}

func ExampleTokenBucket_AllowN() {
	clock := newFakeNow()
	b, _ := ratelimit.NewTokenBucket(ratelimit.PerMinute(60), ratelimit.WithClock(clock.Now))
	d := b.AllowN(50)
	fmt.Printf("allowed=%v limit=%d remaining=%d reset-after=%s\n", d.Allowed, d.Limit, d.Remaining, d.ResetAfter)
	d = b.AllowN(20)
	fmt.Printf("allowed=%v remaining=%d retry-after=%s\n", d.Allowed, d.Remaining, d.RetryAfter)
	d = b.AllowN(100)
	fmt.Println("more than the burst:", d.RetryAfter == ratelimit.Forever)
	// Output:
	// allowed=true limit=60 remaining=10 reset-after=50s
	// allowed=false remaining=10 retry-after=10s
	// more than the burst: true
}

func ExampleTokenBucket_WaitN() {
	b, _ := ratelimit.NewTokenBucket(ratelimit.PerHour(1))
	b.Allow() // the bucket is now empty for an hour

	// A caller that can wait a minute is told at once, and nothing is taken.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := b.Wait(ctx)
	fmt.Println(errors.Is(err, ratelimit.ErrWouldExceedDeadline))

	// Asking for more than the burst is an error, not a wait that never ends.
	err = b.WaitN(context.Background(), 2)
	fmt.Println(errors.Is(err, ratelimit.ErrExceedsBurst))
	// Output:
	// true
	// true
}

func ExampleNewKeyed() {
	clock := newFakeNow()
	// Two requests per second per client, at most 100,000 clients tracked.
	k, _ := ratelimit.NewKeyed[string](ratelimit.PerSecond(2), ratelimit.WithMaxKeys(100_000),
		ratelimit.WithClock(clock.Now))
	for _, ip := range []string{"192.0.2.1", "192.0.2.1", "192.0.2.1", "198.51.100.7"} {
		d, err := k.Limit(context.Background(), ip, 1)
		fmt.Println(ip, d.Allowed, d.Remaining, d.RetryAfter, err)
	}
	// Output:
	// 192.0.2.1 true 1 0s <nil>
	// 192.0.2.1 true 0 0s <nil>
	// 192.0.2.1 false 0 500ms <nil>
	// 198.51.100.7 true 1 0s <nil>
}

func ExampleNewSlidingWindowLog() {
	clock := newFakeNow()
	l, _ := ratelimit.NewSlidingWindowLog(ratelimit.PerMinute(3), ratelimit.WithClock(clock.Now))
	for _, step := range []time.Duration{0, 20 * time.Second, 20 * time.Second, 19 * time.Second, time.Second} {
		clock.Advance(step)
		fmt.Println(l.Allow())
	}
	// Output:
	// true
	// true
	// true
	// false
	// true
}

func ExampleNewLeakyBucket() {
	clock := newFakeNow()
	// One event every 250ms, no bursts even after a quiet spell.
	p, _ := ratelimit.NewLeakyBucket(ratelimit.PerSecond(4), ratelimit.WithClock(clock.Now))
	fmt.Println(p.Allow(), p.Allow())
	clock.Advance(10 * time.Second)
	fmt.Println(p.Allow(), p.Allow())
	fmt.Println(p.AllowN(1).RetryAfter)
	// Output:
	// true false
	// true false
	// 250ms
}

func ExampleTokenBucket_SetRate() {
	clock := newFakeNow()
	b, _ := ratelimit.NewTokenBucket(ratelimit.PerSecond(1), ratelimit.WithClock(clock.Now))
	b.Allow()
	fmt.Println(b.AllowN(1).RetryAfter)
	_ = b.SetRate(ratelimit.PerSecond(10)) // the burst follows the new Limit, and debts are repaid 10× faster
	fmt.Println(b.AllowN(1).Allowed)
	// Output:
	// 1s
	// true
}

func ExampleNewKeyedSlidingWindow() {
	clock := newFakeNow()
	// 100 requests per minute per API key, counted in windows aligned on the minute.
	k, _ := ratelimit.NewKeyedSlidingWindow[string](ratelimit.PerMinute(100), ratelimit.WithClock(clock.Now))
	d := k.AllowN("key-1", 100)
	fmt.Println(d.Allowed, d.Remaining)
	clock.Advance(90 * time.Second) // half of the previous minute still counts: 50
	d = k.AllowN("key-1", 1)
	fmt.Println(d.Allowed, d.Remaining)
	// Output:
	// true 0
	// true 49
}
