package breaker

import (
	"testing"
	"time"
)

// TestProbeSuccessIsNeverSkipped: Done skips recording a success that would change nothing in a healthy closed
// breaker, but a half-open probe's success must always be recorded, or its permit is never returned. A closed
// permit's success that passed its generation check just before another call tripped the breaker can still
// write after the trip: it can zero the consecutive count, or fill the tripped ring with successes. The
// breaker must then still close on its probes.
func TestProbeSuccessIsNeverSkipped(t *testing.T) {
	tests := []struct {
		name  string
		opts  []Option
		trip  int              // failures that trip the breaker
		stale func(b *Breaker) // what the late writer leaves behind
	}{
		{"consecutive", []Option{WithConsecutiveFailures(2)}, 2,
			func(b *Breaker) { b.consecutive.Store(0) }},
		{"count window", []Option{WithCountWindow(4), WithMinimumCalls(2)}, 2,
			func(b *Breaker) {
				r := b.ring.Load()
				for range 4 {
					r.record(0, false, false)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			opts := append(tt.opts, WithOpenTimeout(time.Second), WithHalfOpenCalls(2),
				WithClock(func() time.Time { return now }))
			b, err := New(opts...)
			if err != nil {
				t.Fatal(err)
			}
			for range tt.trip {
				p, err := b.Allow()
				if err != nil {
					t.Fatal(err)
				}
				p.Record(Failure)
			}
			if s := b.State(); s != StateOpen {
				t.Fatalf("state %v after %d failures, want open", s, tt.trip)
			}
			tt.stale(b)
			now = now.Add(time.Second)
			for i := range 2 {
				p, err := b.Allow()
				if err != nil {
					t.Fatalf("probe %d: %v", i, err)
				}
				p.Done(nil)
			}
			if s := b.State(); s != StateClosed {
				t.Fatalf("state %v after two successful probes, want closed (metrics %+v)", s, b.Metrics())
			}
		})
	}
}
