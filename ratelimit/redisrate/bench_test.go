package redisrate

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/sluice-go/sluice/internal/testsvc"
	"github.com/sluice-go/sluice/ratelimit"
)

// roundTrips counts the commands a client sends, each one round trip.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}

// BenchmarkLimit measures one decision against the real Redis, beside a PING, the floor of one round trip.
func BenchmarkLimit(b *testing.B) {
	addr := testsvc.Redis(b)
	for _, alg := range []string{"gcra", "sliding-window", "floor-ping"} {
		for _, par := range []bool{false, true} {
			name := alg + "/serial"
			if par {
				name = alg + "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				c := redis.NewClient(&redis.Options{Addr: addr})
				defer c.Close()
				rt := &roundTrips{}
				c.AddHook(rt)
				be := &backend{addr: addr}
				a := GCRA
				if alg == "sliding-window" {
					a = SlidingWindow
				}
				// A huge quota so that every call is an admission that writes, over 1000 keys.
				l := mustNew(b, c, ratelimit.PerSecond(1_000_000), WithAlgorithm(a), WithPrefix(be.prefix(b)))
				keys := make([]string, 1000)
				for i := range keys {
					keys[i] = "k" + strconv.Itoa(i)
				}
				ctx := context.Background()
				call := func(i int) error {
					if alg == "floor-ping" {
						return c.Ping(ctx).Err()
					}
					_, err := l.Limit(ctx, keys[i%len(keys)], 1)
					return err
				}
				b.ReportAllocs()
				if !par {
					i := 0
					for b.Loop() {
						if err := call(i); err != nil {
							b.Fatal(err)
						}
						i++
					}
				} else {
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) {
						i := 0
						for pb.Next() {
							if err := call(i); err != nil {
								b.Error(err)
								return
							}
							i++
						}
					})
				}
				b.ReportMetric(float64(rt.n.Load())/float64(b.N), "roundtrips/op")
			})
		}
	}
}
