package mysqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/sluice-go/sluice/outbox"
	"github.com/sluice-go/sluice/outbox/internal/storeutil"
)

func ints[T int | int64](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// Lease implements [outbox.Store].
func (s *Store) Lease(ctx context.Context, owner string, now time.Time, ttl time.Duration) ([]outbox.Lease, error) {
	t := s.cfg.Table
	n, exp := now.UnixNano(), now.Add(ttl).UnixNano()
	var out []outbox.Lease
	err := storeutil.InTx(ctx, s.db, func(tx *sql.Tx) error {
		out = nil
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+t+"_relays (owner, expires_at) VALUES (?, ?)"+
			" ON DUPLICATE KEY UPDATE expires_at = VALUES(expires_at)", owner, exp); err != nil {
			return err
		}
		var live int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+t+"_relays WHERE expires_at > ?", n).Scan(&live); err != nil {
			return err
		}
		held, err := storeutil.ScanLeases(tx.QueryContext(ctx, "SELECT part, epoch FROM "+t+"_leases WHERE owner = ? ORDER BY part FOR UPDATE", owner))
		if err != nil {
			return err
		}
		keep, release, need := storeutil.Plan(held, live, s.cfg.Partitions)
		if len(release) > 0 {
			if _, err := tx.ExecContext(ctx, "UPDATE "+t+"_leases SET owner = '', expires_at = 0 WHERE part IN ("+
				placeholders(len(release))+")", ints(release)...); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE "+t+"_leases SET expires_at = ? WHERE owner = ?", exp, owner); err != nil {
			return err
		}
		out = keep
		if need == 0 {
			return nil
		}
		free, err := storeutil.ScanLeases(tx.QueryContext(ctx, "SELECT part, epoch FROM "+t+"_leases WHERE owner = '' OR expires_at <= ?"+
			" ORDER BY part LIMIT ? FOR UPDATE SKIP LOCKED", n, need))
		if err != nil || len(free) == 0 {
			return err
		}
		parts := make([]int, len(free))
		for i, l := range free {
			parts[i] = l.Partition
		}
		args := append([]any{owner, exp}, ints(parts)...)
		if _, err := tx.ExecContext(ctx, "UPDATE "+t+"_leases SET owner = ?, epoch = epoch + 1, expires_at = ? WHERE part IN ("+
			placeholders(len(parts))+")", args...); err != nil {
			return err
		}
		for _, l := range free {
			out = append(out, outbox.Lease{Partition: l.Partition, Epoch: l.Epoch + 1})
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM "+t+"_relays WHERE expires_at < ?", now.Add(-ttl).UnixNano())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: leasing partitions: %w", err)
	}
	return out, nil
}

// Release implements [outbox.Store].
func (s *Store) Release(ctx context.Context, owner string) error {
	if err := storeutil.Release(ctx, s.db, s.cfg.Table, owner); err != nil {
		return fmt.Errorf("mysqlstore: releasing partitions: %w", err)
	}
	return nil
}

// Claim implements [outbox.Store]. It always reports keys as held: the sequence is commit order only within a
// partition, so the relay must not claim ahead past a cursor.
func (s *Store) Claim(ctx context.Context, leases []outbox.Lease, now time.Time, after *outbox.Record, limit int) ([]outbox.Record, bool, error) {
	if len(leases) == 0 {
		return nil, true, nil
	}
	t := s.cfg.Table
	parts := make([]any, len(leases))
	for i, l := range leases {
		parts[i] = l.Partition
	}
	var from int64 = -1
	if after != nil {
		from = after.Seq
	}
	n := now.UnixNano()
	args := append(parts, n, n, from, limit)
	out, err := storeutil.ScanRecords(s.db.QueryContext(ctx, "SELECT seq, id, topic, msg_key, part, payload, headers, created_at, attempts FROM "+t+
		" o WHERE o.published_at IS NULL AND o.part IN ("+placeholders(len(parts))+")"+
		" AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= ?)"+
		" AND o.msg_key NOT IN (SELECT b.msg_key FROM "+t+" b WHERE b.next_attempt_at > ? AND b.published_at IS NULL AND b.msg_key <> ''"+
		" UNION ALL SELECT d.msg_key FROM "+t+"_dead d WHERE d.parked)"+
		" AND o.seq > ? ORDER BY o.seq LIMIT ?", args...))
	if err != nil {
		return nil, true, fmt.Errorf("mysqlstore: claiming: %w", err)
	}
	return out, true, nil
}

func (s *Store) fence(ctx context.Context, tx *sql.Tx, owner string, leases []outbox.Lease, recs []outbox.Record) error {
	return storeutil.FenceTx(ctx, tx, "SELECT part, epoch FROM "+s.cfg.Table+"_leases WHERE owner = ? LOCK IN SHARE MODE", owner, leases, recs)
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
			_, err = tx.ExecContext(ctx, "UPDATE "+s.cfg.Table+" SET published_at = ? WHERE seq IN ("+placeholders(len(seqs))+")",
				append([]any{now.UnixNano()}, ints(seqs)...)...)
		} else {
			_, err = tx.ExecContext(ctx, "DELETE FROM "+s.cfg.Table+" WHERE seq IN ("+placeholders(len(seqs))+")", ints(seqs)...)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("mysqlstore: completing: %w", err)
	}
	return nil
}

// Retry implements [outbox.Store].
func (s *Store) Retry(ctx context.Context, owner string, leases []outbox.Lease, rec outbox.Record, lastErr string, next time.Time) error {
	err := storeutil.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := s.fence(ctx, tx, owner, leases, []outbox.Record{rec}); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE "+s.cfg.Table+" SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE seq = ?",
			lastErr, next.UnixNano(), rec.Seq)
		return err
	})
	if err != nil {
		return fmt.Errorf("mysqlstore: scheduling retry: %w", err)
	}
	return nil
}

// DeadLetter implements [outbox.Store].
func (s *Store) DeadLetter(ctx context.Context, owner string, leases []outbox.Lease, rec outbox.Record, lastErr string, now time.Time, park bool) error {
	t := s.cfg.Table
	err := storeutil.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := s.fence(ctx, tx, owner, leases, []outbox.Record{rec}); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+t+"_dead (seq, id, topic, msg_key, part, payload, headers, created_at, attempts, last_error, failed_at, parked)"+
			" SELECT seq, id, topic, msg_key, part, payload, headers, created_at, attempts + 1, ?, ?, ? FROM "+t+" WHERE seq = ?",
			lastErr, now.UnixNano(), park && rec.Key != "", rec.Seq); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM "+t+" WHERE seq = ?", rec.Seq)
		return err
	})
	if err != nil {
		return fmt.Errorf("mysqlstore: dead-lettering: %w", err)
	}
	return nil
}

// Purge implements [outbox.Store].
func (s *Store) Purge(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.db.ExecContext(ctx, "DELETE FROM "+s.cfg.Table+" WHERE published_at < ? ORDER BY published_at LIMIT ?", before.UnixNano(), limit)
	if err != nil {
		return 0, fmt.Errorf("mysqlstore: purging: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// Stats implements [outbox.Store].
func (s *Store) Stats(ctx context.Context) (outbox.Stats, error) {
	var st outbox.Stats
	var oldest sql.NullInt64
	t := s.cfg.Table
	if err := s.db.QueryRowContext(ctx, "SELECT count(*), min(created_at) FROM "+t+" WHERE published_at IS NULL").Scan(&st.Pending, &oldest); err != nil {
		return st, fmt.Errorf("mysqlstore: stats: %w", err)
	}
	if oldest.Valid {
		st.OldestAt = time.Unix(0, oldest.Int64)
	}
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM "+t+"_dead").Scan(&st.DeadLetters); err != nil {
		return st, fmt.Errorf("mysqlstore: stats: %w", err)
	}
	return st, nil
}

// ListDeadLetters implements [outbox.DeadLetters].
func (s *Store) ListDeadLetters(ctx context.Context, after string, limit int) ([]outbox.DeadLetter, error) {
	t := s.cfg.Table
	out, err := storeutil.ScanDeadLetters(s.db.QueryContext(ctx, "SELECT id, topic, msg_key, payload, headers, created_at, attempts, last_error, failed_at FROM "+t+
		"_dead WHERE seq > coalesce((SELECT seq FROM "+t+"_dead WHERE id = ?), -1) ORDER BY seq LIMIT ?", after, limit))
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: listing dead letters: %w", err)
	}
	return out, nil
}

func strs(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// Replay implements [outbox.DeadLetters]: the messages go back at their original sequence.
func (s *Store) Replay(ctx context.Context, ids ...string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	t := s.cfg.Table
	var n int64
	err := storeutil.InTx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT INTO "+t+" (seq, id, topic, msg_key, part, payload, headers, created_at)"+
			" SELECT seq, id, topic, msg_key, part, payload, headers, created_at FROM "+t+"_dead WHERE id IN ("+placeholders(len(ids))+")",
			strs(ids)...)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM "+t+"_dead WHERE id IN ("+placeholders(len(ids))+")", strs(ids)...)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("mysqlstore: replaying: %w", err)
	}
	return int(n), nil
}

// Discard implements [outbox.DeadLetters].
func (s *Store) Discard(ctx context.Context, ids ...string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	res, err := s.db.ExecContext(ctx, "DELETE FROM "+s.cfg.Table+"_dead WHERE id IN ("+placeholders(len(ids))+")", strs(ids)...)
	if err != nil {
		return 0, fmt.Errorf("mysqlstore: discarding: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
