package pool

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// parkForTest leaves r, marked idle by the caller, in the first slot, as a Release that passed its checks would.
func (p *Pool[T]) parkForTest(r *Resource[T]) {
	s := &p.slots[0]
	s.word.Store(s.word.Load()&^parkIDMask | uint64(r.index) + 1)
}
