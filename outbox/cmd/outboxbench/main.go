// Command outboxbench measures the outbox end to end: throughput and commit-to-broker-acknowledgement
// latency for each store and publisher.
//
//	go run ./outbox/cmd/outboxbench                 # every scenario
//	go run ./outbox/cmd/outboxbench -only pg-nats   # PostgreSQL + NATS JetStream only
//
// Scenarios, each with 200-byte payloads:
//   - sustained: producers commit transactions of 10-100 messages as fast as they can while relays publish;
//     the figure is messages acknowledged by the broker per second.
//   - drain: a backlog is enqueued with no relay running, then relays publish it all.
//   - latency: producers offer a fixed rate (default 1,000 messages/s in transactions of 10); the figures
//     are the p50 and p99 of commit-to-acknowledgement latency, with wake-up on commit.
//
// PostgreSQL, MySQL/MariaDB and NATS are found like the tests find them (SLUICE_POSTGRES_DSN,
// SLUICE_MYSQL_DSN, SLUICE_NATS_URL); SQLite runs in a temporary file against an in-process NATS server.
// Kafka is not measured: only kfake, an in-process fake, runs here.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-go/sluice/internal/testsvc"
	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/internal/embeddednats"
	"github.com/sluice-go/sluice/outbox/mysqlstore"
	"github.com/sluice-go/sluice/outbox/natspub"
	"github.com/sluice-go/sluice/outbox/pgstore"
	"github.com/sluice-go/sluice/outbox/sqlitestore"
)

var (
	only      = flag.String("only", "", "run only setups whose name contains this (pg-nats, sqlite-nats, mysql-nats)")
	duration  = flag.Duration("duration", 8*time.Second, "length of the sustained and latency runs")
	backlog   = flag.Int("backlog", 200000, "messages in the drain scenario")
	relays    = flag.Int("relays", 2, "relays running at once")
	batch     = flag.Int("batch", 1000, "relay batch size")
	producers = flag.Int("producers", 8, "producer goroutines in the sustained run")
	rate      = flag.Int("rate", 1000, "offered messages/s in the latency run")
	scenarios = flag.String("scenarios", "sustained,drain,latency", "scenarios to run")
	cpuprof   = flag.String("cpuprofile", "", "write a CPU profile to this file")
)

func main() {
	flag.Parse()
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		must(err)
		must(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	payload := []byte(strings.Repeat("x", 200))
	fmt.Printf("outboxbench: %s runs, %d relays, batch %d, 200-byte payloads\n", *duration, *relays, *batch)
	for _, setup := range []setup{pgNATS(ctx), sqliteNATS(ctx), mysqlNATS(ctx)} {
		if setup.name == "" || (*only != "" && !strings.Contains(setup.name, *only)) {
			continue
		}
		fmt.Printf("\n== %s\n", setup.name)
		if strings.Contains(*scenarios, "sustained") {
			runSustained(ctx, setup, payload)
		}
		if strings.Contains(*scenarios, "drain") {
			runDrain(ctx, setup, payload)
		}
		if strings.Contains(*scenarios, "latency") {
			runLatency(ctx, setup, payload)
		}
		setup.close()
	}
}

// setup is one store and publisher pair; fresh returns a new empty outbox and stream.
type setup struct {
	name  string
	fresh func() (store outbox.Store, enqueue func(context.Context, []outbox.Message) error, pub outbox.Publisher, cleanup func())
	close func()
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "outboxbench:", err)
		os.Exit(1)
	}
}

func natsStream(js jetstream.JetStream, name string) (outbox.Publisher, func()) {
	subject := name + ".events"
	_, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: []string{subject}})
	must(err)
	pub, err := natspub.New(js, natspub.WithSubject(func(outbox.Message) string { return subject }))
	must(err)
	return pub, func() { _ = js.DeleteStream(context.Background(), name) }
}

var runSeq, relayErrors atomic.Int64

func runName() string { return fmt.Sprintf("obb%d_%d", time.Now().Unix()%100000, runSeq.Add(1)) }

func pgNATS(ctx context.Context) setup {
	if testsvc.PostgresService.Reachable() != nil || testsvc.NATSService.Reachable() != nil {
		fmt.Println("pg-nats: PostgreSQL or NATS unreachable, skipped")
		return setup{}
	}
	cfg, err := pgxpool.ParseConfig(testsvc.PostgresService.Value())
	must(err)
	cfg.MaxConns = 32
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	must(err)
	nc, js := connectNATS(testsvc.NATSService.Value())
	return setup{
		name: "pg-nats (PostgreSQL + NATS JetStream server)",
		fresh: func() (outbox.Store, func(context.Context, []outbox.Message) error, outbox.Publisher, func()) {
			name := runName()
			s, err := pgstore.New(pool, pgstore.WithTable(name))
			must(err)
			must(s.Migrate(ctx))
			pub, dropStream := natsStream(js, strings.ToUpper(name))
			enqueue := func(ctx context.Context, msgs []outbox.Message) error {
				tx, err := pool.Begin(ctx)
				if err != nil {
					return err
				}
				if err := s.Enqueue(ctx, tx, msgs...); err != nil {
					_ = tx.Rollback(ctx)
					return err
				}
				return tx.Commit(ctx)
			}
			return s, enqueue, pub, func() {
				dropStream()
				_, _ = pool.Exec(ctx, fmt.Sprintf("DROP TABLE %[1]s, %[1]s_dead, %[1]s_leases, %[1]s_relays; DROP FUNCTION %[1]s_notify()", name))
			}
		},
		close: func() { nc.Close(); pool.Close() },
	}
}

func sqliteNATS(ctx context.Context) setup {
	dir, err := os.MkdirTemp("", "outboxbench")
	must(err)
	srv, err := embeddednats.Start(dir, -1)
	must(err)
	nc, js := connectNATS(srv.ClientURL())
	return setup{
		name: "sqlite-nats (SQLite WAL + in-process NATS JetStream)",
		fresh: func() (outbox.Store, func(context.Context, []outbox.Message) error, outbox.Publisher, func()) {
			name := runName()
			db, err := sqlitestore.Open(dir + "/" + name + ".db")
			must(err)
			s, err := sqlitestore.New(db)
			must(err)
			must(s.Migrate(ctx))
			pub, dropStream := natsStream(js, strings.ToUpper(name))
			enqueue := sqlEnqueue(db, s.Enqueue, s.Notify)
			return s, enqueue, pub, func() { dropStream(); _ = db.Close() }
		},
		close: func() { nc.Close(); srv.Shutdown(); srv.WaitForShutdown(); _ = os.RemoveAll(dir) },
	}
}

// tracker records commit and acknowledgement times per message ID.
type tracker struct {
	mu     sync.Mutex
	commit map[string]time.Time
	ack    map[string]time.Time
	acked  atomic.Int64
}

func newTracker() *tracker {
	return &tracker{commit: map[string]time.Time{}, ack: map[string]time.Time{}}
}

func (tr *tracker) committed(msgs []outbox.Message, at time.Time) {
	tr.mu.Lock()
	for _, m := range msgs {
		tr.commit[m.ID] = at
	}
	tr.mu.Unlock()
}

// wrap returns pub recording the acknowledgement time of each message it publishes.
func (tr *tracker) wrap(pub outbox.Publisher) outbox.Publisher {
	return publisherFunc(func(ctx context.Context, msgs []outbox.Message) []error {
		errs := pub.Publish(ctx, msgs)
		now := time.Now()
		n := 0
		tr.mu.Lock()
		for i, m := range msgs {
			if errs == nil || errs[i] == nil {
				if _, dup := tr.ack[m.ID]; !dup {
					tr.ack[m.ID] = now
					n++
				}
			}
		}
		tr.mu.Unlock()
		tr.acked.Add(int64(n))
		return errs
	})
}

type publisherFunc func(context.Context, []outbox.Message) []error

func (f publisherFunc) Publish(ctx context.Context, msgs []outbox.Message) []error {
	return f(ctx, msgs)
}

func (tr *tracker) latencies() (p50, p99, max time.Duration) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var ls []time.Duration
	for id, a := range tr.ack {
		if c, ok := tr.commit[id]; ok {
			ls = append(ls, max0(a.Sub(c)))
		}
	}
	if len(ls) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ls)
	return ls[len(ls)/2], ls[len(ls)*99/100], ls[len(ls)-1]
}

func max0(d time.Duration) time.Duration { return max(d, 0) }

func messages(n int, payload []byte, keys int) []outbox.Message {
	msgs := make([]outbox.Message, n)
	for i := range msgs {
		msgs[i] = outbox.Message{ID: outbox.NewID(), Topic: "bench", Key: fmt.Sprintf("k%d", rand.IntN(keys)), Payload: payload}
	}
	return msgs
}

// startRelays runs n relays until the returned stop is called.
func startRelays(store outbox.Store, pub outbox.Publisher, n int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range n {
		r, err := outbox.NewRelay(store, pub, outbox.WithBatchSize(*batch), outbox.WithPollInterval(100*time.Millisecond),
			outbox.WithHook(func(ev outbox.Event) {
				if ev.Kind == outbox.EventError && relayErrors.Add(1) <= 3 {
					fmt.Fprintln(os.Stderr, "relay error:", ev.Err)
				}
			}))
		must(err)
		wg.Go(func() { must(r.Run(ctx)) })
	}
	return func() { cancel(); wg.Wait() }
}

func waitAcked(tr *tracker, n int64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for tr.acked.Load() < n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

func runSustained(ctx context.Context, s setup, payload []byte) {
	store, enqueue, pub, cleanup := s.fresh()
	defer cleanup()
	tr := newTracker()
	stop := startRelays(store, tr.wrap(pub), *relays)
	defer stop()
	var sent atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(*duration)
	start := time.Now()
	for range *producers {
		wg.Go(func() {
			for time.Now().Before(end) {
				msgs := messages(10+rand.IntN(91), payload, 10000)
				must(enqueue(ctx, msgs))
				tr.committed(msgs, time.Now())
				sent.Add(int64(len(msgs)))
			}
		})
	}
	wg.Wait()
	committedIn := time.Since(start)
	ok := waitAcked(tr, sent.Load(), time.Minute)
	all := time.Since(start)
	p50, p99, mx := tr.latencies()
	fmt.Printf("sustained: committed %d msgs in %s (%.0f msg/s offered); all acked after %s: %.0f msg/s end to end%s;"+
		" commit->ack p50 %s p99 %s max %s\n", sent.Load(), committedIn.Round(time.Millisecond),
		float64(sent.Load())/committedIn.Seconds(), all.Round(time.Millisecond), float64(tr.acked.Load())/all.Seconds(),
		note(ok), p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), mx.Round(time.Millisecond))
}

func note(ok bool) string {
	if ok {
		return ""
	}
	return " (TIMED OUT before all were acknowledged)"
}

func runDrain(ctx context.Context, s setup, payload []byte) {
	store, enqueue, pub, cleanup := s.fresh()
	defer cleanup()
	n := *backlog
	for i := 0; i < n; i += 1000 {
		must(enqueue(ctx, messages(min(1000, n-i), payload, 10000)))
	}
	tr := newTracker()
	start := time.Now()
	stop := startRelays(store, tr.wrap(pub), *relays)
	ok := waitAcked(tr, int64(n), 5*time.Minute)
	d := time.Since(start)
	stop()
	fmt.Printf("drain: %d msgs backlog published in %s: %.0f msg/s%s\n", n, d.Round(time.Millisecond), float64(n)/d.Seconds(), note(ok))
}

func runLatency(ctx context.Context, s setup, payload []byte) {
	store, enqueue, pub, cleanup := s.fresh()
	defer cleanup()
	tr := newTracker()
	stop := startRelays(store, tr.wrap(pub), *relays)
	defer stop()
	const perTx = 10
	interval := time.Second * perTx / time.Duration(*rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	end := time.Now().Add(*duration)
	var sent int64
	var wg sync.WaitGroup
	for now := range tick.C {
		if now.After(end) {
			break
		}
		msgs := messages(perTx, payload, 10000)
		sent += perTx
		wg.Go(func() {
			must(enqueue(ctx, msgs))
			tr.committed(msgs, time.Now())
		})
	}
	wg.Wait()
	ok := waitAcked(tr, sent, time.Minute)
	p50, p99, mx := tr.latencies()
	fmt.Printf("latency: %d msg/s offered in transactions of %d: commit->ack p50 %s p99 %s max %s%s\n", *rate, perTx,
		p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), mx.Round(time.Millisecond), note(ok))
}

func mysqlNATS(ctx context.Context) setup {
	if testsvc.MySQLService.Reachable() != nil || testsvc.NATSService.Reachable() != nil {
		fmt.Println("mysql-nats: MySQL or NATS unreachable, skipped")
		return setup{}
	}
	db, err := sql.Open("mysql", testsvc.MySQLService.Value())
	must(err)
	db.SetMaxOpenConns(32)
	nc, js := connectNATS(testsvc.NATSService.Value())
	return setup{
		name: "mysql-nats (MariaDB/MySQL + NATS JetStream server)",
		fresh: func() (outbox.Store, func(context.Context, []outbox.Message) error, outbox.Publisher, func()) {
			name := runName()
			s, err := mysqlstore.New(db, mysqlstore.WithTable(name))
			must(err)
			must(s.Migrate(ctx))
			pub, dropStream := natsStream(js, strings.ToUpper(name))
			enqueue := sqlEnqueue(db, s.Enqueue, func() {})
			return s, enqueue, pub, func() {
				dropStream()
				_, _ = db.Exec(fmt.Sprintf("DROP TABLE %[1]s, %[1]s_dead, %[1]s_leases, %[1]s_relays, %[1]s_locks", name))
			}
		},
		close: func() { nc.Close(); _ = db.Close() },
	}
}

func connectNATS(url string) (*nats.Conn, jetstream.JetStream) {
	nc, err := nats.Connect(url)
	must(err)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(16384))
	must(err)
	return nc, js
}

// sqlEnqueue returns a function enqueueing msgs in one committed database/sql transaction, then calling after.
func sqlEnqueue(db *sql.DB, enqueue func(context.Context, *sql.Tx, ...outbox.Message) error, after func()) func(context.Context, []outbox.Message) error {
	return func(ctx context.Context, msgs []outbox.Message) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := enqueue(ctx, tx, msgs...); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		after()
		return nil
	}
}
