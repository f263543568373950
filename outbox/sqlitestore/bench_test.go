package sqlitestore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/internal/storetest"
)

// BenchmarkEnqueue compares enqueueing a transaction's messages in one statement with a naive loop of one
// INSERT per message, at several transaction sizes.
func BenchmarkEnqueue(b *testing.B) {
	payload := []byte(strings.Repeat("x", 200))
	for _, n := range []int{1, 10, 100} {
		msgs := make([]outbox.Message, n)
		for i := range msgs {
			msgs[i] = outbox.Message{Topic: "t", Key: fmt.Sprint("k", i), Payload: payload}
		}
		b.Run(fmt.Sprintf("msgs=%d/sluice-multirow", n), func(b *testing.B) {
			s := storetest.NewSQLite(b)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				tx, _ := s.DB().BeginTx(ctx, nil)
				if err := s.Enqueue(ctx, tx, msgs...); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
		b.Run(fmt.Sprintf("msgs=%d/naive-loop", n), func(b *testing.B) {
			s := storetest.NewSQLite(b)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				tx, _ := s.DB().BeginTx(ctx, nil)
				for _, m := range msgs {
					if err := s.Enqueue(ctx, tx, m); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkEnqueueParallel enqueues transactions of 10 messages from parallel goroutines (SQLite serializes
// the writers).
func BenchmarkEnqueueParallel(b *testing.B) {
	s := storetest.NewSQLite(b)
	payload := []byte(strings.Repeat("x", 200))
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		msgs := make([]outbox.Message, 10)
		for i := range msgs {
			msgs[i] = outbox.Message{Topic: "t", Key: fmt.Sprint("k", i), Payload: payload}
		}
		for pb.Next() {
			tx, err := s.DB().BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Enqueue(ctx, tx, msgs...); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
