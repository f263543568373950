package bench

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a benchmark leaves a goroutine behind: a pool's maintenance loop, a cache's
// cleaner or a limiter's refill timer that was never stopped.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
