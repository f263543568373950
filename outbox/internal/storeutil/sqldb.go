package storeutil

import (
	"context"
	"database/sql"
	"time"

	"github.com/sluice-go/sluice/outbox"
)

// What the database/sql stores (SQLite, MySQL) share. Their times are int64 Unix nanoseconds.

// InTx runs fn in a transaction of db, committing when it returns nil and rolling back otherwise.
func InTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// ScanLeases reads (part, epoch) rows.
func ScanLeases(rows *sql.Rows, err error) ([]outbox.Lease, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []outbox.Lease
	for rows.Next() {
		var l outbox.Lease
		if err := rows.Scan(&l.Partition, &l.Epoch); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// ScanRecords reads (seq, id, topic, msg_key, part, payload, headers, created_at, attempts) rows.
func ScanRecords(rows *sql.Rows, err error) ([]outbox.Record, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []outbox.Record
	for rows.Next() {
		var r outbox.Record
		var h []byte
		var created int64
		if err := rows.Scan(&r.Seq, &r.ID, &r.Topic, &r.Key, &r.Partition, &r.Payload, &h, &created, &r.Attempts); err != nil {
			return nil, err
		}
		if r.Headers, err = DecodeHeaders(h); err != nil {
			return nil, err
		}
		r.CreatedAt = time.Unix(0, created)
		out = append(out, r)
	}
	return out, rows.Err()
}

// ScanDeadLetters reads (id, topic, msg_key, payload, headers, created_at, attempts, last_error, failed_at) rows.
func ScanDeadLetters(rows *sql.Rows, err error) ([]outbox.DeadLetter, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []outbox.DeadLetter
	for rows.Next() {
		var d outbox.DeadLetter
		var created, failed int64
		var h []byte
		if err := rows.Scan(&d.ID, &d.Topic, &d.Key, &d.Payload, &h, &created, &d.Attempts, &d.LastError, &failed); err != nil {
			return nil, err
		}
		if d.Headers, err = DecodeHeaders(h); err != nil {
			return nil, err
		}
		d.CreatedAt, d.FailedAt = time.Unix(0, created), time.Unix(0, failed)
		out = append(out, d)
	}
	return out, rows.Err()
}

// FenceTx checks in tx that recs' partitions are still leased under the claimed epochs; query selects
// (part, epoch) of the owner given as its one parameter, locking the rows where the database can.
func FenceTx(ctx context.Context, tx *sql.Tx, query, owner string, claimed []outbox.Lease, recs []outbox.Record) error {
	held, err := ScanLeases(tx.QueryContext(ctx, query, owner))
	if err != nil {
		return err
	}
	cur := make(map[int]int64, len(held))
	for _, l := range held {
		cur[l.Partition] = l.Epoch
	}
	return Fenced(cur, claimed, recs)
}

// Seqs returns the sequence numbers of recs.
func Seqs(recs []outbox.Record) []int64 {
	seqs := make([]int64, len(recs))
	for i, r := range recs {
		seqs[i] = r.Seq
	}
	return seqs
}

// Release frees every partition owner holds and forgets the relay, in one transaction, for the stores whose SQL
// takes ? placeholders (SQLite, MySQL/MariaDB). table is the validated outbox table name.
func Release(ctx context.Context, db *sql.DB, table, owner string) error {
	return InTx(ctx, db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE "+table+"_leases SET owner = '', expires_at = 0 WHERE owner = ?", owner); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM "+table+"_relays WHERE owner = ?", owner)
		return err
	})
}
