package outbox

import (
	"context"
	"time"
)

// Record is a pending message as a [Store] hands it to the relay.
type Record struct {
	Message
	Seq       int64 // the store's position of the message; unique, ordered within a partition
	Txn       int64 // the id of the transaction that wrote it, where the store orders by it (PostgreSQL); else 0
	Partition int   // Partition(Key, ID, store's partition count)
	Attempts  int   // failed publish attempts so far
}

// Lease is a relay's exclusive right to publish one partition, until it expires. Epoch is the fencing token:
// it grows each time the partition changes hands, and a store refuses to complete messages under a stale one.
type Lease struct {
	Partition int
	Epoch     int64
}

// Stats is the backlog as a store sees it.
type Stats struct {
	Pending     int64     // messages not yet published, dead letters excluded
	OldestAt    time.Time // CreatedAt of the oldest pending message; zero when none
	DeadLetters int64     // messages in the dead-letter table
}

// DeadLetter is a message that failed every attempt, with the last error.
type DeadLetter struct {
	Message
	Attempts  int
	LastError string
	FailedAt  time.Time
}

// Store is where the outbox lives: the table the application enqueues into inside its transactions, and the
// operations a [Relay] needs. pgstore and sqlitestore implement it; the methods are called by the relay only.
//
// The contract that keeps per-key order: Claim returns, for the leased partitions, pending messages in commit
// order, never a message whose Key has an earlier message still pending in backoff (Retry) or parked in the
// dead-letter table (DeadLetter with park). Times are the relay's clock, so all relays should share one time
// source (NTP); leases tolerate skew well below their TTL.
type Store interface {
	// Lease renews owner's leases and takes free or expired partitions up to its fair share (partitions divided by
	// live relays), releasing any above it; it returns the partitions owner holds until now+ttl.
	Lease(ctx context.Context, owner string, now time.Time, ttl time.Duration) ([]Lease, error)
	// Release gives up all of owner's leases, so another relay can take them at once.
	Release(ctx context.Context, owner string) error
	// Claim returns up to limit pending messages of the leased partitions, in commit order per partition;
	// with after, only messages ordered after it (the relay claims its next batch while one is in flight).
	// held reports whether, as of before the claim, any key was held back (in backoff or parked): the relay
	// claims ahead with after only when none was, since a held key's earlier messages lie behind the cursor.
	Claim(ctx context.Context, leases []Lease, now time.Time, after *Record, limit int) (recs []Record, held bool, err error)
	// Complete marks recs published: it deletes them, or with keep marks them published at now, for Purge to
	// delete later. It returns ErrLeaseLost when owner no longer holds a record's partition under the claimed
	// epoch; the records of such partitions stay pending (a store may still complete those of the others).
	Complete(ctx context.Context, owner string, leases []Lease, recs []Record, now time.Time, keep bool) error
	// Retry records a failed attempt of rec and holds it, and its key's later messages, until next. Like
	// Complete, it returns ErrLeaseLost, changing nothing, when owner no longer holds rec's partition.
	Retry(ctx context.Context, owner string, leases []Lease, rec Record, lastErr string, next time.Time) error
	// DeadLetter moves rec to the dead-letter table. With park, its key's later messages wait until it is
	// replayed or discarded. Like Complete, it returns ErrLeaseLost when owner no longer holds rec's partition.
	DeadLetter(ctx context.Context, owner string, leases []Lease, rec Record, lastErr string, now time.Time, park bool) error
	// Purge deletes at most limit published rows completed before before, returning how many it deleted.
	Purge(ctx context.Context, before time.Time, limit int) (int, error)
	// Stats reports the backlog.
	Stats(ctx context.Context) (Stats, error)
}

// Waker is implemented by stores that can tell a relay that new messages were committed (Postgres
// LISTEN/NOTIFY). Wake runs until ctx ends, sending on wake without blocking after each commit it learns of.
// The relay still polls, so a lost notification only delays delivery by the poll interval.
type Waker interface {
	Wake(ctx context.Context, wake chan<- struct{}) error
}

// DeadLetters is implemented by stores with a dead-letter table.
type DeadLetters interface {
	// ListDeadLetters returns up to limit dead letters, oldest first, after the one with id after ("" = start).
	// When after no longer names a dead letter (replayed or discarded since), listing starts over: page with
	// the last id of a page that is still in the table.
	ListDeadLetters(ctx context.Context, after string, limit int) ([]DeadLetter, error)
	// Replay moves the dead letters with these ids back to the outbox at their original position, with their
	// attempt count reset; it returns how many it moved.
	Replay(ctx context.Context, ids ...string) (int, error)
	// Discard deletes the dead letters with these ids, releasing their parked keys.
	Discard(ctx context.Context, ids ...string) (int, error)
}
