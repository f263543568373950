package redisrate_test

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sluice-go/sluice/ratelimit"
	"github.com/sluice-go/sluice/ratelimit/redisrate"
)

func Example() {
	// miniredis stands in for a Redis server here, with its clock stopped so that the output is deterministic.
	mr, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer mr.Close()
	mr.SetTime(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer client.Close()

	// 2 requests per second per API key, shared by every instance that talks to this Redis.
	limiter, err := redisrate.New(client, ratelimit.PerSecond(2), redisrate.WithPrefix("api:"))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for range 3 {
		d, err := limiter.Limit(ctx, "key-42", 1)
		if err != nil {
			panic(err)
		}
		fmt.Printf("allowed=%v remaining=%d retry=%v reset=%v\n", d.Allowed, d.Remaining, d.RetryAfter, d.ResetAfter)
	}
	mr.SetTime(time.Date(2026, 1, 1, 12, 0, 0, int(500*time.Millisecond), time.UTC))
	ok, _ := limiter.Allow(ctx, "key-42")
	fmt.Println("half a second later:", ok)
	fmt.Println("state in", limiter.Key("key-42"))
	// Output:
	// allowed=true remaining=1 retry=0s reset=500ms
	// allowed=true remaining=0 retry=0s reset=1s
	// allowed=false remaining=0 retry=500ms reset=1s
	// half a second later: true
	// state in api:{key-42}
}
