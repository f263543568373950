package pgstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-go/sluice/outbox"
)

// BenchmarkEnqueue compares the one-statement enqueue (unnest of arrays, one round trip) with the
// database/sql multi-row INSERT and with a naive loop of one INSERT round trip per message.
func BenchmarkEnqueue(b *testing.B) {
	pool := newPool(b, "")
	s := newStore(b, pool)
	ctx := context.Background()
	payload := []byte(strings.Repeat("x", 200))
	for _, n := range []int{10, 100} {
		msgs := make([]outbox.Message, n)
		for i := range msgs {
			msgs[i] = outbox.Message{Topic: "t", Key: fmt.Sprint("k", i), Payload: payload}
		}
		for _, impl := range []struct {
			name string
			fn   func(tx pgx.Tx) error
		}{
			{"sluice-unnest", func(tx pgx.Tx) error { return s.Enqueue(ctx, tx, msgs...) }},
			{"naive-loop", func(tx pgx.Tx) error {
				for _, m := range msgs {
					if err := s.Enqueue(ctx, tx, m); err != nil {
						return err
					}
				}
				return nil
			}},
		} {
			b.Run(fmt.Sprintf("msgs=%d/%s", n, impl.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := pgx.BeginFunc(ctx, pool, impl.fn); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}
