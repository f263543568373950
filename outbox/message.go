package outbox

import (
	"context"
	"hash/fnv"
	"time"

	"github.com/google/uuid"
)

// Message is one event written to the outbox in the application's transaction and later published by a [Relay].
//
// ID is the message's identity end to end: the publishers send it as the broker's de-duplication id
// (JetStream Nats-Msg-Id, a Kafka header) and consumers pass it to [Inbox.Process]. When empty, enqueueing
// fills it with a time-ordered UUIDv7. Messages with the same non-empty Key are published in commit order;
// messages without a Key have no order among themselves. CreatedAt is set at enqueue when zero.
type Message struct {
	ID        string
	Topic     string
	Key       string
	Payload   []byte
	Headers   map[string]string
	CreatedAt time.Time
}

// NewID returns a new time-ordered message id (a UUIDv7 in its canonical text form).
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// NewV7 fails only when the system's random source does; a random v4 is still unique.
		return uuid.NewString()
	}
	return id.String()
}

// Prepare fills what enqueueing fills in m: a missing ID, a zero CreatedAt (from now), and the headers captured
// from ctx (see [CaptureHeaders]). It never overwrites what the caller set. Stores call it; custom stores should too.
func Prepare(ctx context.Context, m *Message, now time.Time) {
	if m.ID == "" {
		m.ID = NewID()
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	CaptureHeaders(ctx, m)
}

// Partition returns the partition of a message among n: messages with the same Key share a partition, so one
// relay at a time owns their order. Messages without a Key are spread by ID.
func Partition(key, id string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	if key != "" {
		h.Write([]byte(key))
	} else {
		h.Write([]byte(id))
	}
	return int(h.Sum32() % uint32(n))
}
