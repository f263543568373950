package outbox_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/sqlitestore"
)

// The application writes its row and the message announcing it in one transaction; the relay publishes the
// message after the commit. Messages of one key arrive in commit order.
func Example() {
	dir, _ := os.MkdirTemp("", "outbox-example")
	defer os.RemoveAll(dir)
	db, _ := sqlitestore.Open(filepath.Join(dir, "app.db"))
	defer db.Close()
	store, _ := sqlitestore.New(db)
	ctx := context.Background()
	_ = store.Migrate(ctx)
	_, _ = db.ExecContext(ctx, "CREATE TABLE orders (id TEXT PRIMARY KEY, status TEXT)")

	place := func(id, status string) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, "INSERT INTO orders VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status", id, status); err != nil {
			return err
		}
		msg := outbox.Message{Topic: "orders." + status, Key: id, Payload: []byte(`{"order":"` + id + `"}`)}
		if err := store.Enqueue(ctx, tx, msg); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		store.Notify() // wake the relay of this process now instead of at its next poll
		return nil
	}
	_ = place("A-1", "placed")
	_ = place("B-7", "placed")
	_ = place("A-1", "paid")

	runCtx, stop := context.WithCancel(ctx)
	var published atomic.Int32
	pub := outbox.PublisherFunc(func(ctx context.Context, m outbox.Message) error {
		fmt.Printf("%s %s %s\n", m.Topic, m.Key, m.Payload)
		if published.Add(1) == 3 {
			stop()
		}
		return nil
	})
	relay, err := outbox.NewRelay(store, pub)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = relay.Run(runCtx) // returns once stop was called and the batch in flight is finished
	// Output:
	// orders.placed A-1 {"order":"A-1"}
	// orders.placed B-7 {"order":"B-7"}
	// orders.paid A-1 {"order":"A-1"}
}
