package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/pgstore"
)

func main() {
	ctx := context.Background()
	pool, _ := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:5432/test")
	pool.Exec(ctx, "DROP TABLE IF EXISTS obprobe, obprobe_dead, obprobe_leases, obprobe_relays")
	s, _ := pgstore.New(pool, pgstore.WithTable("obprobe"))
	if err := s.Migrate(ctx); err != nil {
		panic(err)
	}
	p := []byte(strings.Repeat("x", 200))
	for i := 0; i < 100; i++ {
		msgs := make([]outbox.Message, 1000)
		for j := range msgs {
			msgs[j] = outbox.Message{Topic: "t", Key: fmt.Sprintf("k%d", (i*1000+j)%10000), Payload: p}
		}
		tx, _ := pool.Begin(ctx)
		if err := s.Enqueue(ctx, tx, msgs...); err != nil {
			panic(err)
		}
		tx.Commit(ctx)
	}
}
