package sqlitestore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/sqlitestore"
)

// A poison message is dead-lettered after its attempts; once fixed, Replay puts it back at its place and the
// key it parked resumes in order.
func ExampleStore_Replay() {
	dir, _ := os.MkdirTemp("", "sqlitestore-example")
	defer os.RemoveAll(dir)
	db, _ := sqlitestore.Open(filepath.Join(dir, "outbox.db"))
	defer db.Close()
	store, _ := sqlitestore.New(db)
	ctx := context.Background()
	_ = store.Migrate(ctx)

	tx, _ := db.BeginTx(ctx, nil)
	_ = store.Enqueue(ctx, tx,
		outbox.Message{ID: "1", Topic: "invoices", Key: "acme", Payload: []byte("bad")},
		outbox.Message{ID: "2", Topic: "invoices", Key: "acme", Payload: []byte("next")},
	)
	_ = tx.Commit()

	broken := true
	run := func(want int) {
		runCtx, stop := context.WithCancel(ctx)
		seen := 0
		pub := outbox.PublisherFunc(func(ctx context.Context, m outbox.Message) error {
			if broken && string(m.Payload) == "bad" {
				return fmt.Errorf("schema rejects %q", m.Payload)
			}
			fmt.Println("published", m.ID, string(m.Payload))
			if seen++; seen == want {
				stop()
			}
			return nil
		})
		relay, _ := outbox.NewRelay(store, pub, outbox.WithMaxAttempts(1), outbox.WithHook(func(ev outbox.Event) {
			if ev.Kind == outbox.EventDeadLettered {
				fmt.Println("dead-lettered", ev.Message.ID+":", ev.Err)
				stop()
			}
		}))
		_ = relay.Run(runCtx)
	}
	run(0) // message 1 fails and is parked with its key; message 2 waits behind it

	letters, _ := store.ListDeadLetters(ctx, "", 10)
	fmt.Println("dead letters:", len(letters), letters[0].LastError)
	broken = false
	_, _ = store.Replay(ctx, letters[0].ID)
	run(2)
	// Output:
	// dead-lettered 1: schema rejects "bad"
	// dead letters: 1 schema rejects "bad"
	// published 1 bad
	// published 2 next
}
