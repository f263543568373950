package natspub_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sluice-go/sluice/internal/testsvc"
	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/internal/embeddednats"
	"github.com/sluice-go/sluice/outbox/internal/storetest"
	"github.com/sluice-go/sluice/outbox/natspub"
	"github.com/sluice-go/sluice/outbox/sqlitestore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startServer(t *testing.T, dir string, port int) *server.Server {
	t.Helper()
	s, err := embeddednats.Start(dir, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

func connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func newStream(t *testing.T, js jetstream.JetStream, dup time.Duration) (name, subject string) {
	t.Helper()
	name = fmt.Sprintf("OB%d", time.Now().UnixNano())
	subject = name + ".events"
	_, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Duplicates: dup})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { js.DeleteStream(context.Background(), name) })
	return name, subject
}

func newSQLite(t *testing.T) *sqlitestore.Store { return storetest.NewSQLite(t) }

func enqueue(t *testing.T, s *sqlitestore.Store, msgs []outbox.Message) {
	storetest.EnqueueSQLite(t, s, msgs)
}

// readStream returns every message of stream as outbox messages (ID from Nats-Msg-Id, Key from KeyHeader).
func readStream(t *testing.T, js jetstream.JetStream, stream string, want int) []outbox.Message {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	for {
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs >= uint64(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream holds %d messages, want %d", info.State.Msgs, want)
		}
		time.Sleep(10 * time.Millisecond) // polling the broker's state
	}
	var out []outbox.Message
	for seq := uint64(1); ; seq++ {
		raw, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, outbox.Message{ID: raw.Header.Get(jetstream.MsgIDHeader), Key: raw.Header.Get(natspub.KeyHeader),
			Payload: raw.Data, Headers: map[string]string{"n": raw.Header.Get("n")}})
	}
	return out
}

func withSubject(subject string) natspub.Option {
	return natspub.WithSubject(func(outbox.Message) string { return subject })
}

func TestEndToEnd(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	_, js := connect(t, srv.ClientURL())
	stream, subject := newStream(t, js, time.Minute)
	testEndToEnd(t, js, stream, subject)
}

// TestEndToEndRealNATS runs the same against the NATS server of the environment.
func TestEndToEndRealNATS(t *testing.T) {
	_, js := connect(t, testsvc.NATS(t))
	stream, subject := newStream(t, js, time.Minute)
	testEndToEnd(t, js, stream, subject)
}

func testEndToEnd(t *testing.T, js jetstream.JetStream, stream, subject string) {
	pub, err := natspub.New(js, withSubject(subject))
	if err != nil {
		t.Fatal(err)
	}
	store := newSQLite(t)
	msgs := storetest.Messages(t.Name(), 500, 17)
	enqueue(t, store, msgs[:250])
	// A duplicate sent by hand (as after a crash) is dropped by the stream.
	if errs := pub.Publish(context.Background(), []outbox.Message{msgs[0]}); errs != nil {
		t.Fatal(errs)
	}
	storetest.RunRelays(t, store, pub, 2, outbox.WithPollInterval(20*time.Millisecond), outbox.WithBatchSize(100))
	enqueue(t, store, msgs[250:])
	got := readStream(t, js, stream, len(msgs))
	if len(got) != len(msgs) {
		t.Fatalf("stream holds %d messages, want %d (duplicates not removed?)", len(got), len(msgs))
	}
	storetest.CheckOrder(t, got, msgs)
	if got[1].Headers["n"] == "" || string(got[1].Payload) == "" {
		t.Fatalf("headers or payload lost: %+v", got[1])
	}
}

// TestBrokerDown: the server goes away while messages are enqueued; they accumulate and are all delivered,
// in per-key order, once it is back.
func TestBrokerDown(t *testing.T) {
	dir := t.TempDir()
	srv, err := embeddednats.Start(dir, -1)
	if err != nil {
		t.Fatal(err)
	}
	port := srv.Addr().(*net.TCPAddr).Port
	_, js := connect(t, srv.ClientURL())
	stream, subject := newStream(t, js, time.Minute)
	pub, err := natspub.New(js, withSubject(subject), natspub.WithAckTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	store := newSQLite(t)
	msgs := storetest.Messages(t.Name(), 300, 7)
	enqueue(t, store, msgs[:100])
	failed := make(chan struct{}, 1)
	storetest.RunRelays(t, store, pub, 1, outbox.WithPollInterval(20*time.Millisecond), outbox.WithMaxAttempts(1000),
		outbox.WithBackoff(10*time.Millisecond, 100*time.Millisecond), outbox.WithHook(func(ev outbox.Event) {
			if ev.Kind == outbox.EventFailed {
				select {
				case failed <- struct{}{}:
				default:
				}
			}
		}))
	readStream(t, js, stream, 100)
	srv.Shutdown()
	srv.WaitForShutdown()
	enqueue(t, store, msgs[100:])
	select {
	case <-failed:
	case <-time.After(30 * time.Second):
		t.Fatal("no publish failed within 30s of the broker going down")
	}
	startServer(t, dir, port)
	got := readStream(t, js, stream, len(msgs))
	storetest.CheckOrder(t, got, msgs)
}

func TestCheckDuplicateWindow(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	_, js := connect(t, srv.ClientURL())
	stream, _ := newStream(t, js, 30*time.Second)
	pub, _ := natspub.New(js)
	r, err := outbox.NewRelay(newSQLite(t), pub, outbox.WithMaxAttempts(10))
	if err != nil {
		t.Fatal(err)
	}
	w, err := pub.CheckDuplicateWindow(context.Background(), stream, r.RetryHorizon())
	if !errors.Is(err, natspub.ErrDuplicateWindow) || w != 30*time.Second {
		t.Fatalf("CheckDuplicateWindow = %s, %v; want 30s, ErrDuplicateWindow (horizon %s)", w, err, r.RetryHorizon())
	}
	if _, err := pub.CheckDuplicateWindow(context.Background(), stream, 10*time.Second); err != nil {
		t.Fatalf("CheckDuplicateWindow(10s) = %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	srv := startServer(t, t.TempDir(), -1)
	_, js := connect(t, srv.ClientURL())
	if _, err := natspub.New(js, natspub.WithAckTimeout(0)); err == nil || err.Error() != "natspub: WithAckTimeout: timeout must be > 0, got 0s" {
		t.Fatal(err)
	}
}
