package storeutil

import (
	"errors"
	"maps"
	"testing"
	"unicode/utf8"

	"go.uber.org/goleak"

	"github.com/sluice-go/sluice/outbox"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func leases(ps ...int) []outbox.Lease {
	out := make([]outbox.Lease, len(ps))
	for i, p := range ps {
		out[i] = outbox.Lease{Partition: p, Epoch: 1}
	}
	return out
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		held             []outbox.Lease
		live, partitions int
		keep, release    int
		need             int
	}{
		{nil, 1, 16, 0, 0, 16},
		{leases(0, 1, 2, 3), 1, 16, 4, 0, 12},
		{leases(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 2, 16, 8, 8, 0},
		{leases(0, 1, 2, 3, 4, 5), 3, 16, 6, 0, 0},
		{leases(0, 1, 2, 3, 4, 5, 6), 3, 16, 6, 1, 0},
		{nil, 0, 4, 0, 0, 4},   // live is at least the caller
		{nil, 32, 16, 0, 0, 1}, // more relays than partitions: some stay idle
	} {
		keep, release, need := Plan(tc.held, tc.live, tc.partitions)
		if len(keep) != tc.keep || len(release) != tc.release || need != tc.need {
			t.Errorf("Plan(%d held, %d live, %d) = keep %d release %d need %d; want %d %d %d", len(tc.held), tc.live,
				tc.partitions, len(keep), len(release), need, tc.keep, tc.release, tc.need)
		}
	}
}

func TestFenced(t *testing.T) {
	claimed := []outbox.Lease{{Partition: 1, Epoch: 3}, {Partition: 2, Epoch: 5}}
	recs := []outbox.Record{{Partition: 1}, {Partition: 2}}
	if err := Fenced(map[int]int64{1: 3, 2: 5}, claimed, recs); err != nil {
		t.Fatalf("held leases: %v", err)
	}
	for _, cur := range []map[int]int64{{1: 3}, {1: 3, 2: 6}, {}} {
		if err := Fenced(cur, claimed, recs); !errors.Is(err, outbox.ErrLeaseLost) {
			t.Errorf("Fenced(%v) = %v, want ErrLeaseLost", cur, err)
		}
	}
}

func FuzzHeaders(f *testing.F) {
	f.Add("traceparent", "00-abc", "x", "")
	f.Add("", "", "ü", "\x00")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		h := map[string]string{k1: v1, k2: v2}
		b, err := EncodeHeaders(h)
		valid := true
		for k, v := range h {
			valid = valid && utf8.ValidString(k) && utf8.ValidString(v)
		}
		if !valid {
			if err == nil {
				t.Fatalf("invalid UTF-8 in %q accepted", h)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeHeaders(b)
		if err != nil || !maps.Equal(got, h) {
			t.Fatalf("round trip of %q gave %q, %v", h, got, err)
		}
		// Whatever bytes a damaged row holds, decoding fails cleanly or yields a map.
		_, _ = DecodeHeaders([]byte(k1))
	})
}
