package redisrate

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sluice-go/sluice/ratelimit"
)

// These tests drive the scripts on miniredis, whose TIME the test sets, so that time is deterministic.

// event is one admission, at a server time.
type event struct {
	at time.Duration
	n  int
}

// TestScriptProperties checks each algorithm's guarantee over random traffic on a fake server clock, and that
// RetryAfter is exact: one microsecond earlier the same request is still denied, at RetryAfter it is allowed.
func TestScriptProperties(t *testing.T) {
	for _, c := range []struct {
		alg   Algorithm
		r     ratelimit.Rate
		burst int
	}{
		{GCRA, ratelimit.PerSecond(10), 10},
		{GCRA, ratelimit.Rate{Limit: 3, Period: time.Second}, 5}, // emission interval not a whole µs
		{GCRA, ratelimit.PerMinute(7), 1},
		{SlidingWindow, ratelimit.PerSecond(10), 10},
		{SlidingWindow, ratelimit.Rate{Limit: 7, Period: 333 * time.Millisecond}, 7},
	} {
		t.Run(c.alg.String()+"/"+c.r.String(), func(t *testing.T) {
			mr := miniredis.RunT(t)
			cl := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			t.Cleanup(func() { _ = cl.Close() })
			opts := []Option{WithAlgorithm(c.alg)}
			if c.alg == GCRA {
				opts = append(opts, WithBurst(c.burst))
			}
			l := mustNew(t, cl, c.r, opts...)
			base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			now := time.Duration(0)
			set := func(d time.Duration) { now = d.Truncate(time.Microsecond); mr.SetTime(base.Add(now)) } // TIME has µs
			set(0)
			rng := rand.New(rand.NewPCG(1, 2))
			var admitted []event
			ctx := context.Background()
			step := c.r.Period / time.Duration(c.r.Limit)
			for range 600 {
				set(now + time.Duration(rng.Int64N(int64(2*step))))
				n := 1 + rng.IntN(3)
				d, err := l.Limit(ctx, "k", n)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed {
					admitted = append(admitted, event{now, n})
					continue
				}
				if d.RetryAfter == forever {
					continue
				}
				at := now + d.RetryAfter
				set(at - time.Microsecond)
				if d2, _ := l.Limit(ctx, "k", n); d2.Allowed {
					t.Fatalf("allowed 1µs before RetryAfter %v (n=%d at %v)", d.RetryAfter, n, at)
				}
				set(at)
				if d2, _ := l.Limit(ctx, "k", n); !d2.Allowed {
					t.Fatalf("denied at RetryAfter %v (n=%d at %v): %+v", d.RetryAfter, n, at, d2)
				}
				admitted = append(admitted, event{now, n})
			}
			if len(admitted) < 100 {
				t.Fatalf("only %d admissions", len(admitted))
			}
			switch c.alg {
			case GCRA:
				// No interval [a, b] holds more than burst + (b-a)/T events.
				emit := l.emit
				for i := range admitted {
					sum := 0
					for j := i; j < len(admitted); j++ {
						sum += admitted[j].n
						span := admitted[j].at - admitted[i].at
						if allowed := c.burst + int(span/emit); sum > allowed {
							t.Fatalf("%d events in %v, policy allows %d", sum, span, allowed)
						}
					}
				}
			case SlidingWindow:
				// No aligned window holds more than Limit events (the previous window's weight is never negative).
				perWindow := map[int64]int{}
				for _, e := range admitted {
					w := int64((base.Add(e.at).UnixMicro()) / (c.r.Period.Microseconds()))
					perWindow[w] += e.n
					if perWindow[w] > c.r.Limit {
						t.Fatalf("window %d holds %d events, limit %d", w, perWindow[w], c.r.Limit)
					}
				}
			}
		})
	}
}
