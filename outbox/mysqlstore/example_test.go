package mysqlstore_test

import (
	"context"
	"database/sql"
	"log"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/mysqlstore"
)

// Enqueue last in the transaction: from there to the commit, the message's partition is held. This example
// needs a MySQL or MariaDB server, so it is compiled but not run.
func Example() {
	ctx := context.Background()
	db, err := sql.Open("mysql", "app@tcp(db:3306)/app")
	if err != nil {
		log.Fatal(err)
	}
	store, err := mysqlstore.New(db)
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "UPDATE orders SET status = 'paid' WHERE id = ?", "A-1"); err != nil {
		log.Fatal(err)
	}
	if err := store.Enqueue(ctx, tx, outbox.Message{Topic: "orders.paid", Key: "A-1", Payload: []byte(`{"order":"A-1"}`)}); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}
}
