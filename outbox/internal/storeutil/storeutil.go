// Package storeutil holds what the outbox stores share: the lease plan, the fencing check and the header codec.
package storeutil

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/sluice-go/sluice/outbox"
)

// Plan decides a relay's leases given the ones it holds, the number of live relays (itself included) and
// the store's partition count: which held partitions it keeps, which it releases, and how many free ones it
// should try to take. Each relay aims at ceil(partitions/live).
func Plan(held []outbox.Lease, live, partitions int) (keep []outbox.Lease, release []int, need int) {
	live = max(live, 1)
	fair := (partitions + live - 1) / live
	if len(held) > fair {
		for _, l := range held[fair:] {
			release = append(release, l.Partition)
		}
		return held[:fair], release, 0
	}
	return held, nil, fair - len(held)
}

// Fenced reports whether every record's partition is leased under the same epoch in current (the store's
// lease rows of the owner, read in the completing transaction) as in claimed (what the relay holds).
func Fenced(current map[int]int64, claimed []outbox.Lease, recs []outbox.Record) error {
	want := make(map[int]int64, len(claimed))
	for _, l := range claimed {
		want[l.Partition] = l.Epoch
	}
	for _, r := range recs {
		e, ok := current[r.Partition]
		if !ok || e != want[r.Partition] {
			return fmt.Errorf("%w: partition %d", outbox.ErrLeaseLost, r.Partition)
		}
	}
	return nil
}

// EncodeHeaders returns the JSON text of h, or nil when h is empty. Keys and values must be valid UTF-8:
// JSON would silently replace invalid bytes, merging distinct keys.
func EncodeHeaders(h map[string]string) ([]byte, error) {
	if len(h) == 0 {
		return nil, nil
	}
	for k, v := range h {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("outbox: header %q: keys and values must be valid UTF-8", k)
		}
	}
	return json.Marshal(h)
}

// DecodeHeaders parses what EncodeHeaders produced.
func DecodeHeaders(b []byte) (map[string]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var h map[string]string
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("outbox: decoding headers: %w", err)
	}
	return h, nil
}

// Partitions returns the partition numbers of leases.
func Partitions(leases []outbox.Lease) []int32 {
	ps := make([]int32, len(leases))
	for i, l := range leases {
		ps[i] = int32(l.Partition)
	}
	return ps
}

// Config is what every store is configured with.
type Config struct {
	Table      string
	Partitions int
	Now        func() time.Time
}

// NewConfig applies opts (functions setting fields) over the defaults and validates the result, naming pkg
// and the option in errors.
func NewConfig(pkg string, apply func(*Config)) (Config, error) {
	c := Config{Table: "outbox", Partitions: 16, Now: time.Now}
	apply(&c)
	if err := outbox.ValidIdent(c.Table); err != nil || len(c.Table) > 50 {
		return c, fmt.Errorf("%s: WithTable: name must be an identifier of at most 50 bytes, got %q", pkg, c.Table)
	}
	if c.Partitions < 1 || c.Partitions > 4096 {
		return c, fmt.Errorf("%s: WithPartitions: partitions must be in [1, 4096], got %d", pkg, c.Partitions)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}
