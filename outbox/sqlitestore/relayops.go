package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/internal/storeutil"
)

var _ interface {
	outbox.Store
	outbox.Waker
	outbox.DeadLetters
} = (*Store)(nil)

// Lease implements [outbox.Store].
func (s *Store) Lease(ctx context.Context, owner string, now time.Time, ttl time.Duration) ([]outbox.Lease, error) {
	t := s.cfg.Table
	n, exp := now.UnixNano(), now.Add(ttl).UnixNano()
	var out []outbox.Lease
	err := storeutil.InTx(ctx, s.db, func(tx *sql.Tx) error {
		out = nil
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+t+"_relays (owner, expires_at) VALUES (?, ?)"+
			" ON CONFLICT (owner) DO UPDATE SET expires_at = excluded.expires_at", owner, exp); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+t+"_relays WHERE expires_at <= ?", n); err != nil {
			return err
		}
		var live int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+t+"_relays").Scan(&live); err != nil {
			return err
		}
		held, err := storeutil.ScanLeases(tx.QueryContext(ctx, "SELECT part, epoch FROM "+t+"_leases WHERE owner = ? ORDER BY part", owner))
		if err != nil {
			return err
		}
		keep, release, need := storeutil.Plan(held, live, s.cfg.Partitions)
		for _, p := range release {
			if _, err := tx.ExecContext(ctx, "UPDATE "+t+"_leases SET owner = '', expires_at = 0 WHERE part = ?", p); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE "+t+"_leases SET expires_at = ? WHERE owner = ?", exp, owner); err != nil {
			return err
		}
		out = keep
		if need > 0 {
			got, err := storeutil.ScanLeases(tx.QueryContext(ctx, "UPDATE "+t+"_leases SET owner = ?, epoch = epoch + 1, expires_at = ?"+
				" WHERE part IN (SELECT part FROM "+t+"_leases WHERE owner = '' OR expires_at <= ? ORDER BY part LIMIT ?)"+
				" RETURNING part, epoch", owner, exp, n, need))
			if err != nil {
				return err
			}
			out = append(out, got...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: leasing partitions: %w", err)
	}
	return out, nil
}

// Release implements [outbox.Store].
func (s *Store) Release(ctx context.Context, owner string) error {
	if err := storeutil.Release(ctx, s.db, s.cfg.Table, owner); err != nil {
		return fmt.Errorf("sqlitestore: releasing partitions: %w", err)
	}
	return nil
}

func jsonInts[T int | int32 | int64](xs []T) string {
	b, _ := json.Marshal(xs)
	return string(b)
}

// Claim implements [outbox.Store].
func (s *Store) Claim(ctx context.Context, leases []outbox.Lease, now time.Time, after *outbox.Record, limit int) ([]outbox.Record, bool, error) {
	var from int64 = -1
	if after != nil {
		from = after.Seq
	}
	var held bool
	if err := s.db.QueryRowContext(ctx, s.q.held, now.UnixNano()).Scan(&held); err != nil {
		return nil, false, fmt.Errorf("sqlitestore: claiming: %w", err)
	}
	out, err := storeutil.ScanRecords(s.db.QueryContext(ctx, s.q.claim, jsonInts(storeutil.Partitions(leases)), now.UnixNano(), limit, from))
	if err != nil {
		return nil, false, fmt.Errorf("sqlitestore: claiming: %w", err)
	}
	return out, held, nil
}

func (s *Store) fence(ctx context.Context, tx *sql.Tx, owner string, leases []outbox.Lease, recs []outbox.Record) error {
	return storeutil.FenceTx(ctx, tx, "SELECT part, epoch FROM "+s.cfg.Table+"_leases WHERE owner = ?", owner, leases, recs)
}

// Complete implements [outbox.Store].
func (s *Store) Complete(ctx context.Context, owner string, leases []outbox.Lease, recs []outbox.Record, now time.Time, keep bool) error {
	seqs := storeutil.Seqs(recs)
	err := storeutil.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := s.fence(ctx, tx, owner, leases, recs); err != nil {
			return err
		}
		var err error
		if keep {
			_, err = tx.ExecContext(ctx, s.q.markDone, now.UnixNano(), jsonInts(seqs))
		} else {
			_, err = tx.ExecContext(ctx, s.q.del, jsonInts(seqs))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: completing: %w", err)
	}
	return nil
}

// Retry implements [outbox.Store].
func (s *Store) Retry(ctx context.Context, owner string, leases []outbox.Lease, rec outbox.Record, lastErr string, next time.Time) error {
	err := storeutil.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := s.fence(ctx, tx, owner, leases, []outbox.Record{rec}); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q.retry, lastErr, next.UnixNano(), rec.Seq)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: scheduling retry: %w", err)
	}
	return nil
}

// DeadLetter implements [outbox.Store].
func (s *Store) DeadLetter(ctx context.Context, owner string, leases []outbox.Lease, rec outbox.Record, lastErr string, now time.Time, park bool) error {
	err := storeutil.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := s.fence(ctx, tx, owner, leases, []outbox.Record{rec}); err != nil {
			return err
		}
		parked := 0
		if park && rec.Key != "" {
			parked = 1
		}
		if _, err := tx.ExecContext(ctx, s.q.toDead, lastErr, now.UnixNano(), parked, rec.Seq); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM "+s.cfg.Table+" WHERE seq = ?", rec.Seq)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: dead-lettering: %w", err)
	}
	return nil
}

// Purge implements [outbox.Store].
func (s *Store) Purge(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.db.ExecContext(ctx, s.q.purge, before.UnixNano(), limit)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: purging: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// Stats implements [outbox.Store].
func (s *Store) Stats(ctx context.Context) (outbox.Stats, error) {
	var st outbox.Stats
	var oldest sql.NullInt64
	if err := s.db.QueryRowContext(ctx, s.q.stats).Scan(&st.Pending, &oldest); err != nil {
		return st, fmt.Errorf("sqlitestore: stats: %w", err)
	}
	if oldest.Valid {
		st.OldestAt = time.Unix(0, oldest.Int64)
	}
	if err := s.db.QueryRowContext(ctx, s.q.deadCount).Scan(&st.DeadLetters); err != nil {
		return st, fmt.Errorf("sqlitestore: stats: %w", err)
	}
	return st, nil
}

// ListDeadLetters implements [outbox.DeadLetters].
func (s *Store) ListDeadLetters(ctx context.Context, after string, limit int) ([]outbox.DeadLetter, error) {
	out, err := storeutil.ScanDeadLetters(s.db.QueryContext(ctx, s.q.list, after, limit))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: listing dead letters: %w", err)
	}
	return out, nil
}

func idList(ids []string) string {
	b, _ := json.Marshal(ids)
	return string(b)
}

// Replay implements [outbox.DeadLetters].
func (s *Store) Replay(ctx context.Context, ids ...string) (int, error) {
	t := s.cfg.Table
	var n int64
	err := storeutil.InTx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT INTO "+t+" (seq, id, topic, msg_key, part, payload, headers, created_at)"+
			" SELECT seq, id, topic, msg_key, part, payload, headers, created_at FROM "+t+"_dead WHERE id IN (SELECT value FROM json_each(?))",
			idList(ids))
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM "+t+"_dead WHERE id IN (SELECT value FROM json_each(?))", idList(ids))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: replaying: %w", err)
	}
	s.Notify()
	return int(n), nil
}

// Discard implements [outbox.DeadLetters].
func (s *Store) Discard(ctx context.Context, ids ...string) (int, error) {
	res, err := s.db.ExecContext(ctx, "DELETE FROM "+s.cfg.Table+"_dead WHERE id IN (SELECT value FROM json_each(?))", idList(ids))
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: discarding: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
