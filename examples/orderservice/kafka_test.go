package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-go/sluice/ctxutil"
	"github.com/sluice-go/sluice/outbox/kafkapub"
)

// TestKafka publishes order events to Kafka (an in-process kfake cluster) instead of NATS.
func TestKafka(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders.created"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s := startService(t, "-kafka", strings.Join(c.ListenAddrs(), ","))

	resp, body := s.do(t, "POST", "/orders", `{"user_id": 5, "sku": "sku-2", "quantity": 1}`,
		"X-Forwarded-For", "10.20.0.1", ctxutil.HeaderTraceParent, traceparent)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /orders: %d %s", resp.StatusCode, body)
	}
	var o order
	mustJSON(t, body, &o)

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("orders.created"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("order %s not published to Kafka within 60s", o.ID)
		}
		found := false
		fs.EachRecord(func(r *kgo.Record) {
			h := map[string]string{}
			for _, kv := range r.Headers {
				h[kv.Key] = string(kv.Value)
			}
			if h[kafkapub.IDHeader] != o.ID {
				return
			}
			found = true
			if !strings.Contains(h[ctxutil.HeaderTraceParent], "4bf92f3577b34da6a3ce929d0e0e4736") || string(r.Key) != "5" {
				t.Errorf("record key %q headers %v", r.Key, h)
			}
		})
		if found {
			return
		}
	}
}
