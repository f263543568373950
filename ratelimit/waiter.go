package ratelimit

import (
	"sync"
	"time"
)

// waiter is one blocked WaitN call. Waiters are pooled with their timer so that waiting allocates only when the
// pool is empty.
type waiter struct {
	prev, next *waiter
	n          int
	cost, due  int64 // GCRA: units reserved and the moment they may be used
	err        error // set, with the waiter removed from its list, when it can never be served
	wake       chan struct{}
	timer      *time.Timer
}

var waiterPool = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &waiter{wake: make(chan struct{}, 1), timer: t}
}}

func getWaiter() *waiter { return waiterPool.Get().(*waiter) }

func putWaiter(w *waiter) {
	w.timer.Stop()
	select {
	case <-w.wake:
	default:
	}
	*w = waiter{wake: w.wake, timer: w.timer}
	waiterPool.Put(w)
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
}
