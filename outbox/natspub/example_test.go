package natspub_test

import (
	"context"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/internal/embeddednats"
	"github.com/sluice-go/sluice/outbox/natspub"
)

// Publishing the same message twice (as a relay does after a crash) stores it once: Nats-Msg-Id is the
// message ID.
func Example() {
	dir, _ := os.MkdirTemp("", "natspub-example")
	defer os.RemoveAll(dir)
	srv, err := embeddednats.Start(dir, -1) // an in-process server; use nats.Connect(url) for yours
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	nc, _ := nats.Connect(srv.ClientURL())
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	stream, _ := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})

	pub, _ := natspub.New(js)
	m := outbox.Message{ID: "0190f7c2-5b4e-7c3a-9f00-000000000001", Topic: "orders.paid", Key: "A-1", Payload: []byte(`{"order":"A-1"}`)}
	for range 2 {
		if errs := pub.Publish(ctx, []outbox.Message{m}); errs != nil {
			fmt.Println(errs)
		}
	}
	info, _ := stream.Info(ctx)
	got, _ := stream.GetMsg(ctx, 1)
	fmt.Println("stored:", info.State.Msgs)
	fmt.Println(got.Subject, got.Header.Get(jetstream.MsgIDHeader), got.Header.Get(natspub.KeyHeader), string(got.Data))
	// Output:
	// stored: 1
	// orders.paid 0190f7c2-5b4e-7c3a-9f00-000000000001 A-1 {"order":"A-1"}
}
