package cache_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-go/sluice/cache"
)

type User struct {
	ID   int
	Name string
}

// users stands in for the database: the source of truth.
var users = map[int]User{1: {1, "Ada"}, 2: {2, "Grace"}}

// Cache-aside with a loader: Get reads the cache and, on a miss, the loader, then keeps the answer. In a
// service, add cache.WithRemote(store) (see package rediscache) to share a Redis tier between instances.
func Example() {
	loads := 0
	c, err := cache.New[int, User](
		cache.WithLocal(10_000, 5*time.Minute),
		cache.WithNegativeTTL(time.Minute), // remember missing users too
		cache.WithLoader(func(ctx context.Context, id int) (User, error) {
			loads++
			u, ok := users[id]
			if !ok {
				return User{}, cache.ErrNotFound
			}
			return u, nil
		}),
	)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	ctx := context.Background()

	u, _ := c.Get(ctx, 1) // miss: loads
	fmt.Println(u.Name)
	u, _ = c.Get(ctx, 1) // hit
	fmt.Println(u.Name)
	_, err = c.Get(ctx, 3)
	fmt.Println(errors.Is(err, cache.ErrNotFound))
	_, err = c.Get(ctx, 3) // the "not found" was cached
	fmt.Println(errors.Is(err, cache.ErrNotFound), "loads:", loads)

	// After writing the database, delete the key: the next Get loads the new value.
	users[1] = User{1, "Ada Lovelace"}
	_ = c.Delete(ctx, 1)
	u, _ = c.Get(ctx, 1)
	fmt.Println(u.Name, "loads:", loads)

	st := c.Stats()
	fmt.Println("local hits:", st.LocalHits, "negative hits:", st.NegativeHits)
	// Output:
	// Ada
	// Ada
	// true
	// true loads: 2
	// Ada Lovelace loads: 3
	// local hits: 2 negative hits: 1
}

// GetMany reads many keys with one remote round trip and one bulk load for what the tiers miss.
func ExampleCache_GetMany() {
	c, err := cache.New[int, User](cache.WithBulkLoader(func(ctx context.Context, ids []int) (map[int]User, error) {
		fmt.Println("bulk load of", len(ids), "users")
		out := make(map[int]User)
		for _, id := range ids {
			if u, ok := users[id]; ok {
				out[id] = u
			}
		}
		return out, nil
	}))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	m, _ := c.GetMany(context.Background(), []int{1, 2, 3})
	fmt.Println(len(m), m[2].Name)
	// Output:
	// bulk load of 3 users
	// 2 Grace
}
