package natspub_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-go/sluice/internal/testsvc"
	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/internal/storetest"
	"github.com/sluice-go/sluice/outbox/natspub"
	"github.com/sluice-go/sluice/outbox/pgstore"
)

// TestCrashPostgres runs four relays on PostgreSQL publishing to JetStream and kills one right after the
// broker acknowledged part of its batch, before it completed it. The others take its partitions over when
// its lease expires and send those messages again; JetStream drops the copies, so the stream holds every
// message exactly once, per key in commit order.
func TestCrashPostgres(t *testing.T) {
	dsn := testsvc.Postgres(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	table := fmt.Sprintf("obcrash_%d", time.Now().UnixNano()%1e9)
	store, err := pgstore.New(pool, pgstore.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Exec(context.Background(), fmt.Sprintf("DROP TABLE %[1]s, %[1]s_dead, %[1]s_leases, %[1]s_relays; DROP FUNCTION %[1]s_notify()", table))
	})
	srv := startServer(t, t.TempDir(), -1)
	_, js := connect(t, srv.ClientURL())
	stream, subject := newStream(t, js, time.Minute)
	pub, err := natspub.New(js, withSubject(subject))
	if err != nil {
		t.Fatal(err)
	}

	msgs := storetest.Messages(t.Name(), 1200, 23)
	for i := 0; i < len(msgs); i += 50 {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Enqueue(ctx, tx, msgs[i:i+50]...); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	opts := []outbox.Option{outbox.WithBatchSize(40), outbox.WithPollInterval(20 * time.Millisecond),
		outbox.WithLeaseTTL(500 * time.Millisecond)}
	crashing := &storetest.Crashing{Store: store}
	var sent atomic.Int64
	killer := outbox.ConcurrentPublisherFunc(func(ctx context.Context, m outbox.Message) error {
		errs := pub.Publish(ctx, []outbox.Message{m})
		if sent.Add(1) == 60 {
			crashing.Kill()
		}
		if errs != nil {
			return errs[0]
		}
		return nil
	})
	stopVictim := storetest.RunRelays(t, crashing, killer, 1, opts...)
	storetest.RunRelays(t, store, pub, 3, opts...)
	storetest.Until(t, 30*time.Second, "the crash point", crashing.Killed)
	stopVictim()
	got := readStream(t, js, stream, len(msgs))
	if len(got) != len(msgs) {
		t.Fatalf("stream holds %d messages, want %d: duplicates were not removed", len(got), len(msgs))
	}
	storetest.CheckOrder(t, got, msgs)
}
