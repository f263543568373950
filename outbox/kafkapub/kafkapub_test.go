package kafkapub_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/internal/storetest"
	"github.com/sluice-go/sluice/outbox/kafkapub"
	"github.com/sluice-go/sluice/outbox/sqlitestore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const topic = "orders"

func cluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func client(t *testing.T, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func enqueue(t *testing.T, s *sqlitestore.Store, msgs []outbox.Message) {
	storetest.EnqueueSQLite(t, s, msgs)
}

// consume reads n records and returns them as messages, with the ID from the header, removing duplicates by
// ID as a consumer's inbox would, and counting them.
func consume(t *testing.T, c *kfake.Cluster, n int) (msgs []outbox.Message, dups int) {
	t.Helper()
	cl := client(t, c, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Per partition order is what Kafka keeps; a key lives in one partition.
	for len(seen) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d", len(seen), n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var id string
			for _, h := range r.Headers {
				if h.Key == kafkapub.IDHeader {
					id = string(h.Value)
				}
			}
			if seen[id] {
				dups++
				return
			}
			seen[id] = true
			msgs = append(msgs, outbox.Message{ID: id, Key: string(r.Key), Payload: r.Value})
		})
	}
	return msgs, dups
}

func TestEndToEnd(t *testing.T) {
	c := cluster(t)
	pub, err := kafkapub.New(client(t, c))
	if err != nil {
		t.Fatal(err)
	}
	store := storetest.NewSQLite(t)
	msgs := storetest.Messages(t.Name(), 400, 13)
	enqueue(t, store, msgs[:200])
	storetest.RunRelays(t, store, pub, 2, outbox.WithPollInterval(20*time.Millisecond), outbox.WithBatchSize(64))
	enqueue(t, store, msgs[200:])
	got, _ := consume(t, c, len(msgs))
	storetest.CheckOrder(t, got, msgs)
}

// TestProduceFaults: kfake fails produce requests for a while (the broker is unavailable); messages
// accumulate and are all delivered in per-key order once it recovers.
func TestProduceFaults(t *testing.T) {
	c := cluster(t)
	pub, err := kafkapub.New(client(t, c, kgo.RecordDeliveryTimeout(time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotLeaderForPartition, Count: -1})
	store := storetest.NewSQLite(t)
	msgs := storetest.Messages(t.Name(), 200, 7)
	failed := make(chan struct{}, 1)
	storetest.RunRelays(t, store, pub, 1, outbox.WithPollInterval(20*time.Millisecond), outbox.WithMaxAttempts(1000),
		outbox.WithBackoff(10*time.Millisecond, 50*time.Millisecond), outbox.WithHook(func(ev outbox.Event) {
			if ev.Kind == outbox.EventFailed {
				select {
				case failed <- struct{}{}:
				default:
				}
			}
		}))
	enqueue(t, store, msgs)
	<-failed
	fault.Remove()
	got, dups := consume(t, c, len(msgs))
	storetest.CheckOrder(t, got, msgs)
	t.Logf("duplicates removed by ID: %d", dups)
}

func TestHeadersAndKey(t *testing.T) {
	c := cluster(t)
	pub, err := kafkapub.New(client(t, c), kafkapub.WithTopic(func(outbox.Message) string { return topic }))
	if err != nil {
		t.Fatal(err)
	}
	m := outbox.Message{ID: "id-1", Topic: "ignored", Key: "k", Payload: []byte("v"), Headers: map[string]string{"traceparent": "00-x"}}
	if errs := pub.Publish(context.Background(), []outbox.Message{m}); errs != nil {
		t.Fatal(errs)
	}
	cl := client(t, c, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rec *kgo.Record
	for rec == nil && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { rec = r })
	}
	if rec == nil || string(rec.Key) != "k" || string(rec.Value) != "v" {
		t.Fatalf("record = %+v", rec)
	}
	h := map[string]string{}
	for _, x := range rec.Headers {
		h[x.Key] = string(x.Value)
	}
	if fmt.Sprint(h) != fmt.Sprint(map[string]string{"traceparent": "00-x", kafkapub.IDHeader: "id-1"}) {
		t.Fatalf("headers = %v", h)
	}
}

func TestNewValidates(t *testing.T) {
	cl := client(t, cluster(t))
	for _, tc := range []struct {
		opt  kafkapub.Option
		want string
	}{
		{kafkapub.WithTopic(nil), "kafkapub: WithTopic: function must not be nil, got nil"},
		{kafkapub.WithAckTimeout(0), "kafkapub: WithAckTimeout: timeout must be > 0, got 0s"},
	} {
		if _, err := kafkapub.New(cl, tc.opt); err == nil || err.Error() != tc.want {
			t.Errorf("New: %v, want %q", err, tc.want)
		}
	}
	if _, err := kafkapub.New(nil); err == nil {
		t.Error("New(nil client) succeeded")
	}
}

// TestAckTimeout: while the broker holds produce requests without answering, Publish returns after the ack
// timeout with an error for every message; once the broker answers again, the next Publish succeeds.
func TestAckTimeout(t *testing.T) {
	const timeout = time.Second
	c := cluster(t)
	pub, err := kafkapub.New(client(t, c), kafkapub.WithAckTimeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	msgs := storetest.Messages(t.Name(), 10, 10)
	// Metadata and the producer ID first, so that only produce requests are held.
	if errs := pub.Publish(ctx, msgs[:1]); errs != nil {
		t.Fatalf("first Publish = %v", errs)
	}
	var hold atomic.Bool
	hold.Store(true)
	release := make(chan struct{})
	var once sync.Once
	answer := func() { once.Do(func() { hold.Store(false); close(release) }) }
	defer answer()
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if hold.Load() {
			c.SleepControl(func() { <-release })
		}
		return nil, nil, false // then answered as usual
	})
	start := time.Now()
	errs := pub.Publish(ctx, msgs[1:6])
	took := time.Since(start)
	if took < timeout || took > timeout+5*time.Second {
		t.Fatalf("Publish to a silent broker took %s, want the ack timeout %s", took, timeout)
	}
	if len(errs) != 5 {
		t.Fatalf("Publish to a silent broker = %v, want 5 errors", errs)
	}
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "no acknowledgement within 1s") || !strings.Contains(err.Error(), msgs[1+i].ID) {
			t.Fatalf("error %d = %v, want a timeout naming %s", i, err, msgs[1+i].ID)
		}
	}
	answer()
	if errs := pub.Publish(ctx, msgs[6:]); errs != nil {
		t.Fatalf("Publish once the broker answers = %v", errs)
	}
}
