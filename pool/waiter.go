package pool

import "sync/atomic"

// waiter is one Acquire blocked for a resource. Waiters are recycled through a sync.Pool with their channel, so
// waiting allocates nothing. The channel has room for the one value a waiter ever receives, so the sender, which
// holds the pool's lock, never blocks.
type waiter[T any] struct {
	next, prev *waiter[T]
	ch         chan *Resource[T]
	err        error // why ch received nil: a creation error or ErrClosed
	served     int64 // when it was handed a resource, by the server's clock
	queued     bool
}

// waitList is a FIFO of waiters, an intrusive doubly linked list so that a canceled waiter leaves in O(1).
type waitList[T any] struct {
	head, tail *waiter[T]
	n          int
	gate       *atomic.Int64 // 1 in its low bits while n > 0, for the lock-free fast path
}

func (l *waitList[T]) push(w *waiter[T]) {
	w.queued, w.next, w.prev = true, nil, l.tail
	if l.tail == nil {
		l.head = w
	} else {
		l.tail.next = w
	}
	l.tail = w
	l.n++
	if l.n == 1 {
		l.gate.Add(1) // only the first: every write moves a line that every Acquire and Release reads
	}
}

func (l *waitList[T]) remove(w *waiter[T]) {
	if w.prev == nil {
		l.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		l.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.next, w.prev, w.queued = nil, nil, false
	l.n--
	if l.n == 0 {
		l.gate.Add(-1)
	}
}

// pop removes and returns the oldest waiter, or nil.
func (l *waitList[T]) pop() *waiter[T] {
	w := l.head
	if w != nil {
		l.remove(w)
	}
	return w
}
