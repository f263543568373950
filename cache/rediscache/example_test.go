package rediscache_test

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sluice-go/sluice/cache"
	"github.com/sluice-go/sluice/cache/rediscache"
)

type Product struct {
	SKU   string
	Price int
}

func loadProduct(ctx context.Context, sku string) (Product, error) {
	// SELECT ... FROM products WHERE sku = $1; return cache.ErrNotFound for no row.
	return Product{SKU: sku, Price: 1999}, nil
}

// A two-level cache on Redis, as each instance of a service sets it up: local tier, Redis tier shared by all
// instances, the database behind both, and invalidation over Redis pub/sub.
func Example() {
	// An embedded stand-in for Redis, so that the example runs anywhere; a service passes its Redis address.
	mr, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer mr.Close()
	// ContextTimeoutEnabled lets cache.WithRemoteTimeout cut short a call to a Redis that stops answering.
	client := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer client.Close()
	store, err := rediscache.New(client)
	if err != nil {
		panic(err)
	}
	inv, err := rediscache.NewInvalidator(client, rediscache.WithChannel("products:invalidate"))
	if err != nil {
		panic(err)
	}
	products, err := cache.New[string, Product](
		cache.WithLocal(50_000, time.Minute),
		cache.WithRemote(store), cache.WithRemoteTTL(time.Hour), cache.WithRemoteTimeout(50*time.Millisecond),
		cache.WithNamespace("products", 1),
		cache.WithLoader(loadProduct),
		cache.WithNegativeTTL(30*time.Second),
		cache.WithTTLJitter(0.1),
		cache.WithInvalidation(inv),
	)
	if err != nil {
		panic(err)
	}
	defer products.Close()

	ctx := context.Background()
	p, err := products.Get(ctx, "sku-42")
	fmt.Println(p, err)
	// After UPDATE products ...: every instance drops its local copy, and the next Get anywhere reloads it.
	fmt.Println(products.Delete(ctx, "sku-42"))
	// Output:
	// {sku-42 1999} <nil>
	// <nil>
}
