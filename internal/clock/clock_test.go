package clock

import (
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNanos(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(nil)
		if got := c.Now(); got != 0 {
			t.Fatalf("Now() right after New = %d, want 0", got)
		}
		time.Sleep(1500 * time.Millisecond)
		if got := c.Now(); got != int64(1500*time.Millisecond) {
			t.Fatalf("Now() = %d, want 1.5s", got)
		}
		if !c.At(c.Now()).Equal(time.Now()) {
			t.Fatal("At(Now()) must be the current time")
		}
	})
}

func TestInjected(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := base
	c := New(func() time.Time { return now })
	now = now.Add(time.Minute)
	if got := c.Now(); got != int64(time.Minute) {
		t.Fatalf("Now() = %d, want one minute", got)
	}
	if !c.Time().Equal(base.Add(time.Minute)) {
		t.Fatal("Time() must read the injected clock")
	}
}
