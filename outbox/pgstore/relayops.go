package pgstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/internal/storeutil"
)

// Lease implements [outbox.Store].
func (s *Store) Lease(ctx context.Context, owner string, now time.Time, ttl time.Duration) ([]outbox.Lease, error) {
	t := s.cfg.Table
	exp := now.Add(ttl)
	var out []outbox.Lease
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out = nil
		if _, err := tx.Exec(ctx, "INSERT INTO "+t+"_relays (owner, expires_at) VALUES ($1, $2)"+
			" ON CONFLICT (owner) DO UPDATE SET expires_at = excluded.expires_at", owner, exp); err != nil {
			return err
		}
		var live int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+t+"_relays WHERE expires_at > $1", now).Scan(&live); err != nil {
			return err
		}
		held, err := collectLeases(tx.Query(ctx, "SELECT part, epoch FROM "+t+"_leases WHERE owner = $1 ORDER BY part FOR UPDATE", owner))
		if err != nil {
			return err
		}
		keep, release, need := storeutil.Plan(held, live, s.cfg.Partitions)
		if len(release) > 0 {
			if _, err := tx.Exec(ctx, "UPDATE "+t+"_leases SET owner = '', expires_at = '-infinity' WHERE part = ANY($1)", release); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "UPDATE "+t+"_leases SET expires_at = $1 WHERE owner = $2", exp, owner); err != nil {
			return err
		}
		out = keep
		if need > 0 {
			got, err := collectLeases(tx.Query(ctx, "UPDATE "+t+"_leases SET owner = $1, epoch = epoch + 1, expires_at = $2"+
				" WHERE part IN (SELECT part FROM "+t+"_leases WHERE owner = '' OR expires_at <= $3 ORDER BY part LIMIT $4"+
				" FOR UPDATE SKIP LOCKED) RETURNING part, epoch", owner, exp, now, need))
			if err != nil {
				return err
			}
			out = append(out, got...)
		}
		// Forget relays long gone, so the fair share follows the live ones.
		_, err = tx.Exec(ctx, "DELETE FROM "+t+"_relays WHERE expires_at < $1", now.Add(-ttl))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: leasing partitions: %w", err)
	}
	return out, nil
}

func collectLeases(rows pgx.Rows, err error) ([]outbox.Lease, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (outbox.Lease, error) {
		var l outbox.Lease
		var p int32
		err := r.Scan(&p, &l.Epoch)
		l.Partition = int(p)
		return l, err
	})
}

// Release implements [outbox.Store].
func (s *Store) Release(ctx context.Context, owner string) error {
	t := s.cfg.Table
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE "+t+"_leases SET owner = '', expires_at = '-infinity' WHERE owner = $1", owner); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM "+t+"_relays WHERE owner = $1", owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("pgstore: releasing partitions: %w", err)
	}
	return nil
}

// Claim implements [outbox.Store]. The query must walk the pending index in (xid, seq) order and stop at
// limit; on a young table without statistics the planner prefers reading every pending row and sorting, which
// makes each claim cost the whole backlog. So it runs in a read-only transaction with sorting and JIT turned
// off for it, all in one round trip.
func (s *Store) Claim(ctx context.Context, leases []outbox.Lease, now time.Time, after *outbox.Record, limit int) ([]outbox.Record, bool, error) {
	fromTxn, fromSeq := int64(0), int64(-1)
	if after != nil {
		fromTxn, fromSeq = after.Txn, after.Seq
	}
	out := make([]outbox.Record, 0, limit)
	var b pgx.Batch
	b.Queue("BEGIN READ ONLY")
	b.Queue("SET LOCAL enable_sort TO off")
	b.Queue("SET LOCAL jit TO off")
	var held bool
	b.Queue(s.q.held, now).QueryRow(func(row pgx.Row) error { return row.Scan(&held) })
	b.Queue(s.q.claim, storeutil.Partitions(leases), now, limit, strconv.FormatInt(fromTxn, 10), fromSeq).Query(func(rows pgx.Rows) error {
		var h []byte
		var part int32
		for rows.Next() {
			var r outbox.Record
			if err := rows.Scan(&r.Seq, &r.Txn, &r.ID, &r.Topic, &r.Key, &part, &r.Payload, &h, &r.CreatedAt, &r.Attempts); err != nil {
				return err
			}
			r.Partition = int(part)
			var err error
			if r.Headers, err = storeutil.DecodeHeaders(h); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	b.Queue("COMMIT")
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return nil, false, fmt.Errorf("pgstore: claiming: %w", err)
	}
	return out, held, nil
}

// fence checks, holding the owner's lease rows FOR SHARE until tx ends, that the records' partitions are still
// leased under the claimed epochs.
func (s *Store) fence(ctx context.Context, tx pgx.Tx, owner string, leases []outbox.Lease, recs []outbox.Record) error {
	held, err := collectLeases(tx.Query(ctx, "SELECT part, epoch FROM "+s.cfg.Table+"_leases WHERE owner = $1 FOR SHARE", owner))
	if err != nil {
		return err
	}
	cur := make(map[int]int64, len(held))
	for _, l := range held {
		cur[l.Partition] = l.Epoch
	}
	return storeutil.Fenced(cur, leases, recs)
}

// Complete implements [outbox.Store]. It runs in one round trip: a transaction that deletes (or marks) the
// records of the partitions the owner still holds under the claimed epochs, holding those lease rows FOR
// SHARE so no takeover commits in between; records of partitions lost stay pending and are reported with
// [outbox.ErrLeaseLost], the others are completed. It commits with synchronous_commit off: losing a completion in a
// database crash only means publishing those messages again, which de-duplication absorbs, while not waiting
// for the WAL flush keeps the relay's transaction short, and with it the window in which it holds back the
// commit-order watermark.
func (s *Store) Complete(ctx context.Context, owner string, leases []outbox.Lease, recs []outbox.Record, now time.Time, keep bool) error {
	seqs := storeutil.Seqs(recs)
	parts, epochs := leaseArgs(leases)
	t := s.cfg.Table
	var b pgx.Batch
	b.Queue("BEGIN")
	b.Queue("SET LOCAL synchronous_commit TO off")
	var done int64
	if keep {
		b.Queue(s.q.fenced+"UPDATE "+t+" SET published_at = $5 WHERE seq = ANY($4) AND part IN (SELECT part FROM l)",
			owner, parts, epochs, seqs, now).Exec(func(ct pgconn.CommandTag) error { done = ct.RowsAffected(); return nil })
	} else {
		b.Queue(s.q.fenced+"DELETE FROM "+t+" WHERE seq = ANY($4) AND part IN (SELECT part FROM l)",
			owner, parts, epochs, seqs).Exec(func(ct pgconn.CommandTag) error { done = ct.RowsAffected(); return nil })
	}
	b.Queue("COMMIT")
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("pgstore: completing: %w", err)
	}
	if done < int64(len(recs)) {
		return fmt.Errorf("pgstore: completing: %w: %d of %d messages belong to partitions no longer held",
			outbox.ErrLeaseLost, int64(len(recs))-done, len(recs))
	}
	return nil
}

// leaseArgs returns the partitions and epochs of leases as the array parameters of the fencing CTE.
func leaseArgs(leases []outbox.Lease) ([]int32, []int64) {
	parts, epochs := make([]int32, len(leases)), make([]int64, len(leases))
	for i, l := range leases {
		parts[i], epochs[i] = int32(l.Partition), l.Epoch
	}
	return parts, epochs
}

// Retry implements [outbox.Store]. Like Complete it is fenced: a relay whose lease was taken over cannot
// hold back, or count attempts of, a message the new owner is publishing.
func (s *Store) Retry(ctx context.Context, owner string, leases []outbox.Lease, rec outbox.Record, lastErr string, next time.Time) error {
	parts, epochs := leaseArgs(leases)
	tag, err := s.pool.Exec(ctx, s.q.retry, owner, parts, epochs, rec.Seq, lastErr, next)
	if err != nil {
		return fmt.Errorf("pgstore: scheduling retry: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: scheduling retry: %w: message %s is not pending in a partition held", outbox.ErrLeaseLost, rec.ID)
	}
	return nil
}

// DeadLetter implements [outbox.Store].
func (s *Store) DeadLetter(ctx context.Context, owner string, leases []outbox.Lease, rec outbox.Record, lastErr string, now time.Time, park bool) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.fence(ctx, tx, owner, leases, []outbox.Record{rec}); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, s.q.toDead, lastErr, now, park && rec.Key != "", rec.Seq)
		return err
	})
	if err != nil {
		return fmt.Errorf("pgstore: dead-lettering: %w", err)
	}
	return nil
}

// Purge implements [outbox.Store].
func (s *Store) Purge(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, s.q.purge, before, limit)
	if err != nil {
		return 0, fmt.Errorf("pgstore: purging: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Stats implements [outbox.Store].
func (s *Store) Stats(ctx context.Context) (outbox.Stats, error) {
	var st outbox.Stats
	var oldest *time.Time
	if err := s.pool.QueryRow(ctx, s.q.stats).Scan(&st.Pending, &oldest, &st.DeadLetters); err != nil {
		return st, fmt.Errorf("pgstore: stats: %w", err)
	}
	if oldest != nil {
		st.OldestAt = *oldest
	}
	return st, nil
}

// ListDeadLetters implements [outbox.DeadLetters].
func (s *Store) ListDeadLetters(ctx context.Context, after string, limit int) ([]outbox.DeadLetter, error) {
	rows, err := s.pool.Query(ctx, s.q.list, after, limit)
	if err != nil {
		return nil, fmt.Errorf("pgstore: listing dead letters: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (outbox.DeadLetter, error) {
		var d outbox.DeadLetter
		var h []byte
		if err := r.Scan(&d.ID, &d.Topic, &d.Key, &d.Payload, &h, &d.CreatedAt, &d.Attempts, &d.LastError, &d.FailedAt); err != nil {
			return d, err
		}
		var err error
		d.Headers, err = storeutil.DecodeHeaders(h)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: listing dead letters: %w", err)
	}
	return out, nil
}

// Replay implements [outbox.DeadLetters]. Replayed messages keep their original position (transaction id and
// sequence), so a parked key resumes in order.
func (s *Store) Replay(ctx context.Context, ids ...string) (int, error) {
	t := s.cfg.Table
	tag, err := s.pool.Exec(ctx, "WITH d AS (DELETE FROM "+t+"_dead WHERE id = ANY($1) RETURNING *)"+
		" INSERT INTO "+t+" (seq, xid, id, topic, msg_key, part, payload, headers, created_at)"+
		" SELECT seq, xid, id, topic, msg_key, part, payload, headers, created_at FROM d", ids)
	if err != nil {
		return 0, fmt.Errorf("pgstore: replaying: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Discard implements [outbox.DeadLetters].
func (s *Store) Discard(ctx context.Context, ids ...string) (int, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM "+s.cfg.Table+"_dead WHERE id = ANY($1)", ids)
	if err != nil {
		return 0, fmt.Errorf("pgstore: discarding: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Wake implements [outbox.Waker]: it listens for the insert trigger's notifications on a dedicated connection
// made from the pool's configuration, until ctx ends or the connection fails.
func (s *Store) Wake(ctx context.Context, wake chan<- struct{}) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return fmt.Errorf("pgstore: wake-up connection: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	// Quoted: the trigger notifies on the name as given, while an unquoted LISTEN would fold it to lower case.
	if _, err := conn.Exec(ctx, `LISTEN "`+s.cfg.Table+`"`); err != nil {
		return fmt.Errorf("pgstore: LISTEN %s: %w", s.cfg.Table, err)
	}
	// A notification may have been missed before LISTEN took effect.
	signal(wake)
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("pgstore: waiting for notifications: %w", err)
		}
		signal(wake)
	}
}

func signal(wake chan<- struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}
