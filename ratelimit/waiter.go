package ratelimit

import "time"

// waiter is one blocked WaitN call. It is made only when a caller has to sleep (not pooled: a pooled timer or
// channel would cross testing/synctest bubbles).
type waiter struct {
	prev, next *waiter
	n          int
	cost, due  int64 // GCRA: units reserved and the moment they may be used
	err        error // set, with the waiter removed from its list, when it can never be served
	wake       chan struct{}
	timer      *time.Timer // nil for the keyed limiters: they make a timer when first sleeping, outside the shard lock
}

func newWaiter(n int) *waiter {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &waiter{n: n, wake: make(chan struct{}, 1), timer: t}
}

// signal asks w to look at its state again; it never blocks.
func (w *waiter) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// waitList is an intrusive FIFO of waiters. The zero value is empty.
type waitList struct {
	head, tail *waiter
	len        int
	events     int // sum of n over the list
}

// first returns the head of l, which may be nil.
func (l *waitList) first() *waiter {
	if l == nil {
		return nil
	}
	return l.head
}

func (l *waitList) pushBack(w *waiter) {
	w.prev, w.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = w
	} else {
		l.head = w
	}
	l.tail = w
	l.len++
	l.events += w.n
}

func (l *waitList) remove(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else if l.head == w {
		l.head = w.next
	} else {
		return // not in the list
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		l.tail = w.prev
	}
	w.prev, w.next = nil, nil
	l.len--
	l.events -= w.n
}
