package pgstore_test

import (
	"context"
	"log"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/pgstore"
)

// The order update and its message commit together; relays on any number of instances publish it. This
// example needs a PostgreSQL server, so it is compiled but not run.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://app@db/app")
	if err != nil {
		log.Fatal(err)
	}
	store, err := pgstore.New(pool, pgstore.WithTable("outbox"), pgstore.WithPartitions(32))
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE orders SET status = 'paid' WHERE id = $1", "A-1"); err != nil {
			return err
		}
		return store.Enqueue(ctx, tx, outbox.Message{Topic: "orders.paid", Key: "A-1", Payload: []byte(`{"order":"A-1"}`)})
	})
	if err != nil {
		log.Fatal(err)
	}
}
