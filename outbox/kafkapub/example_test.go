package kafkapub_test

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/kafkapub"
)

// A message becomes a record keyed by its Key, with its headers and the ID header.
func Example() {
	cluster, _ := kfake.NewCluster(kfake.SeedTopics(1, "orders")) // an in-process fake Kafka for the example
	defer cluster.Close()
	cl, _ := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...)) // idempotent producer by default
	defer cl.Close()

	pub, _ := kafkapub.New(cl)
	m := outbox.Message{ID: "id-1", Topic: "orders", Key: "A-1", Payload: []byte("paid"), Headers: map[string]string{"traceparent": "00-abc"}}
	if errs := pub.Publish(context.Background(), []outbox.Message{m}); errs != nil {
		fmt.Println(errs)
		return
	}

	consumer, _ := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer consumer.Close()
	consumer.PollFetches(context.Background()).EachRecord(func(r *kgo.Record) {
		fmt.Println(string(r.Key), string(r.Value))
		for _, h := range r.Headers {
			fmt.Println(h.Key, string(h.Value))
		}
	})
	// Output:
	// A-1 paid
	// traceparent 00-abc
	// Outbox-Id id-1
}
