package ratelimit

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/sluice-go/sluice/internal/clock"
)

// Keyed is a token bucket per key (a client IP, an API key, a user), with the same GCRA as [TokenBucket]: the
// whole state of a key is one int64 stored inline in a sharded map keyed by the key's 64-bit seeded hash, so
// keys are hashed once, key strings are not retained, and a live key costs about 38 bytes whatever its type.
// Two keys whose hashes collide share one quota, which can only deny more, never admit more; the seed is random
// per limiter, so collisions cannot be aimed, and among a million live keys the chance of any is about 3·10⁻⁸.
//
// Memory is bounded. A key whose state is back at full quota is indistinguishable from a key never seen, so such
// keys are forgotten (lazily, in amortized sweeps of a shard) without changing any decision. At most
// [WithMaxKeys] keys are tracked (default 1<<20); when a new key arrives at the cap and no tracked key is at full
// quota, the new key is denied (with [ErrTooManyKeys] from [Keyed.Limit]) rather than another key's state being
// dropped, which would let that key exceed its quota. A flood of distinct keys therefore cannot grow memory, and
// cannot reset anyone's limit; it can make new keys wait, at worst for one burst duration (burst·Period/Limit).
//
// Waiting behaves as on a [TokenBucket], per key: waiters on a key are served in FIFO order and Allow never jumps
// ahead of them, a cancelled waiter gives back exactly what it reserved (the key's later waiters move up), and
// [Keyed.SetRate] re-plans sleeping waiters. A key's waiters are kept out of line, in a list that exists only
// while the key has waiters, so a key nobody waits on still costs one int64.
//
// A Keyed is safe for concurrent use. The zero value is not usable; make one with [NewKeyed].
type Keyed[K comparable] struct {
	clk  clock.Nanos
	k    int64
	keys keyMap[int64] // TAT per key; a key whose TAT has passed is at full quota, as if absent

	mu         sync.Mutex  // serializes SetRate
	p          *gcraParams // guarded by mu; every shard has these once SetRate returns
	burstFixed bool
}

// NewKeyed returns a per-key token bucket of r.Limit tokens per r.Period per key. It accepts [WithBurst],
// [WithClock], [WithMaxKeys] and [WithShards].
func NewKeyed[K comparable](r Rate, opts ...Option) (*Keyed[K], error) {
	c := newConfig(opts)
	if err := c.check(kindKeyed, "Keyed"); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	burst := c.burst
	if burst == 0 {
		burst = r.Limit
	}
	k := unitScale(r)
	p, err := newParams(r, burst, 0, k)
	if err != nil {
		return nil, err
	}
	kl := &Keyed[K]{clk: clock.New(c.now), k: k, p: p, burstFixed: c.burst > 0,
		keys: newKeyMap(&c, func(tat int64) int64 { return tat })}
	for i := range kl.keys.shards {
		kl.keys.shards[i].p = p
	}
	return kl, nil
}

func (kl *Keyed[K]) now() int64 { return kl.clk.Now() * kl.k }

// Allow reports whether one event may happen now for key, and takes a token if so.
func (kl *Keyed[K]) Allow(key K) bool {
	s, h := locate(&kl.keys, key)
	d, _, _ := kl.reserve(s, h, 1, kl.now(), false, 0, false)
	return d.Allowed
}

// AllowN reports whether n events may happen now for key, taking them only if so. It panics if n < 0.
func (kl *Keyed[K]) AllowN(key K, n int) Decision {
	s, h := locate(&kl.keys, key)
	d, _, _ := kl.reserve(s, h, n, kl.now(), false, 0, true)
	return d
}

// Limit is AllowN with the reason of a denial that waiting cannot cure: an error matching [ErrExceedsBurst] or
// [ErrTooManyKeys]. It never blocks; ctx is not used. With K = string, *Keyed[string] is a [KeyLimiter].
func (kl *Keyed[K]) Limit(_ context.Context, key K, n int) (Decision, error) {
	s, h := locate(&kl.keys, key)
	d, _, err := kl.reserve(s, h, n, kl.now(), false, 0, true)
	return d, err
}

// reserve is the one code path of every Keyed call: it admits n events for key h of shard s at now or, with wait,
// reserves them for later if that is before deadline (units; 0 means none), queueing a waiter for them. It
// returns that waiter (nil if the events may be used now or nothing was taken), and a Decision with every field
// only if detail is set (Allow needs only Allowed).
//
// A reservation for later is queued under the same lock that takes it, so a key's waiters always hold every
// reservation of the key still in the future: that is what makes a refund exact.
func (kl *Keyed[K]) reserve(s *keyShard[int64], h uint64, n int, now int64, wait bool, deadline int64, detail bool) (Decision, *waiter, error) {
	if n < 0 {
		panic("ratelimit: negative n")
	}
	s.mu.Lock()
	p := s.p
	tat, found := s.m[h]
	if n > p.burst {
		s.mu.Unlock()
		return p.decision(tat, now, kl.k, false, Forever), nil,
			fmt.Errorf("%w: n=%d, burst=%d", ErrExceedsBurst, n, p.burst)
	}
	cost := int64(n) * p.t
	nt := max(tat, now) + cost
	due := nt - p.tau
	if due > now {
		if !wait || deadline != 0 && due > deadline {
			s.mu.Unlock()
			if !detail && !wait {
				return Decision{}, nil, nil
			}
			d := p.decision(tat, now, kl.k, false, unitsToDur(due-now, kl.k))
			if wait {
				return d, nil, fmt.Errorf("%w: needs %s", ErrWouldExceedDeadline, d.RetryAfter)
			}
			return d, nil, nil
		}
	}
	if !found {
		if n == 0 {
			s.mu.Unlock()
			return p.decision(now, now, kl.k, true, 0), nil, nil
		}
		if !kl.keys.room(s, now) {
			retry := unitsToDur(s.earliest-now, kl.k)
			s.mu.Unlock()
			return Decision{Limit: p.burst, RetryAfter: max(retry, 1)}, nil, ErrTooManyKeys
		}
		s.earliest = min(s.earliest, nt)
	}
	s.m[h] = nt
	var w *waiter
	if due > now { // only with wait; a key never seen has due <= now, so a queued key is always in s.m
		w = &waiter{n: n, cost: cost, due: due, wake: make(chan struct{}, 1)}
		s.enqueue(h, w)
	}
	s.mu.Unlock()
	if !detail {
		return Decision{Allowed: true}, w, nil
	}
	return p.decision(nt, now, kl.k, true, 0), w, nil
}

// Wait is WaitN(ctx, key, 1).
func (kl *Keyed[K]) Wait(ctx context.Context, key K) error { return kl.WaitN(ctx, key, 1) }

// WaitN blocks until n tokens are available for key and takes them, or until ctx ends. The reservation is made
// on arrival, so waiters on a key are served in the order they arrived. It returns, without taking anything:
//   - ctx.Err() if ctx is done on entry, or ends while waiting (what was reserved is given back exactly, and the
//     key's later waiters move up);
//   - an error matching [ErrWouldExceedDeadline] when ctx's deadline comes before the tokens would;
//   - an error matching [ErrExceedsBurst] when n exceeds the burst;
//   - [ErrTooManyKeys] when key is new and the [WithMaxKeys] cap is reached.
//
// If ctx ends at the very moment the tokens become available, WaitN returns nil: the tokens were taken.
func (kl *Keyed[K]) WaitN(ctx context.Context, key K, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := kl.now()
	dl, ok := deadlineUnits(ctx, &kl.clk, kl.k)
	if ok {
		dl = max(dl, 1) // 0 means no deadline
	}
	s, h := locate(&kl.keys, key)
	_, w, err := kl.reserve(s, h, n, now, true, dl, false)
	if err != nil || w == nil {
		return err
	}
	return kl.sleep(ctx, s, h, w)
}

// sleep blocks w, a waiter on key h of shard s, until its slot, a re-plan, or ctx's end.
func (kl *Keyed[K]) sleep(ctx context.Context, s *keyShard[int64], h uint64, w *waiter) error {
	var t *time.Timer
	s.mu.Lock()
	for {
		if w.err != nil { // removed by a re-plan that made it impossible
			s.mu.Unlock()
			return w.err
		}
		now := kl.now()
		if w.due <= now {
			s.dequeue(h, w)
			s.mu.Unlock()
			return nil
		}
		d := unitsToDur(w.due-now, kl.k)
		s.mu.Unlock()
		if t == nil {
			t = time.NewTimer(d)
			defer t.Stop()
		} else {
			t.Reset(d)
		}
		select {
		case <-t.C:
			s.mu.Lock()
		case <-w.wake:
			s.mu.Lock()
		case <-ctx.Done():
			s.mu.Lock()
			if w.err == nil && w.due > kl.now() {
				kl.refund(s, h, w)
				s.mu.Unlock()
				return ctx.Err()
			}
			// The slot came (or the waiter was failed) as ctx ended: report what really happened.
		}
	}
}

// refund gives back exactly what w reserved and moves the key's later waiters earlier by as much. It is exact:
// while w's reservation is pending no admission on its key can happen after it, so the later reservations are
// all waiters, stacked on w's without any idle gap. Called with s.mu held.
func (kl *Keyed[K]) refund(s *keyShard[int64], h uint64, w *waiter) {
	if tat, ok := s.m[h]; ok { // always: a key with waiters is never forgotten
		s.m[h] = tat - w.cost
		s.earliest = min(s.earliest, tat-w.cost) // it may be idle sooner now
	}
	for x := w.next; x != nil; x = x.next {
		x.due -= w.cost
		x.signal()
	}
	s.dequeue(h, w)
}

// SetRate changes the rate and burst of every key. As on a [TokenBucket], what a key's admitted events still owe is
// kept as a number of events, repaid at the new rate, and the key's sleeping waiters are re-planned under the new
// rate in the same order; a waiter whose n no longer fits the burst gets [ErrExceedsBurst]. Unless [WithBurst]
// was given the burst follows r.Limit.
//
// It visits every tracked key, one shard at a time under that shard's lock (forgetting the keys it finds at full
// quota, as a sweep would), so its cost grows with the number of keys. A shard changes at one moment: each key is
// judged by the old rate before it and the new one after, but keys of different shards may see the change at
// slightly different moments while SetRate runs.
func (kl *Keyed[K]) SetRate(r Rate) error {
	if err := r.Validate(); err != nil {
		return err
	}
	kl.mu.Lock()
	defer kl.mu.Unlock()
	burst := r.Limit
	if kl.burstFixed {
		burst = kl.p.burst
	}
	p, err := newParams(r, burst, 0, kl.k)
	if err != nil {
		return err
	}
	kl.p = p
	for i := range kl.keys.shards {
		s := &kl.keys.shards[i]
		s.mu.Lock()
		kl.replan(s, p, kl.now()) // the shard changes at this moment: the clock is read under its lock
		s.mu.Unlock()
	}
	return nil
}

// replan moves shard s to p at now, converting every key as a [TokenBucket] converts its one bucket. Keys that
// end up at full quota, and have no waiters, are forgotten. Called with s.mu held.
func (kl *Keyed[K]) replan(s *keyShard[int64], p *gcraParams, now int64) {
	old := s.p
	s.p = p
	earliest := int64(math.MaxInt64)
	for h, tat := range s.m {
		l := s.waitsOf(h)
		// The waiters whose slot has come (due <= now) took it; the others, a suffix of the list, are re-planned.
		base := tat
		for x := l.first(); x != nil; x = x.next {
			if x.due > now {
				base -= x.cost
			}
		}
		nt := now
		if base > now {
			nt = now + rescaleDebt(base-now, old.t, p.t)
		}
		for x := l.first(); x != nil; {
			next := x.next
			if x.due > now {
				if x.n > p.burst {
					x.err = fmt.Errorf("%w: n=%d, burst=%d", ErrExceedsBurst, x.n, p.burst)
					s.dequeue(h, x)
				} else {
					x.cost = int64(x.n) * p.t
					nt += x.cost
					x.due = nt - p.tau
				}
			}
			x.signal()
			x = next
		}
		if nt <= now && !s.waiting(h) {
			delete(s.m, h)
			s.evictions++
			continue
		}
		s.m[h] = nt
		earliest = min(earliest, nt)
	}
	s.earliest = earliest
	s.resweep(&kl.keys)
}

// Len returns how many keys are tracked now (keys at full quota may or may not be counted yet).
func (kl *Keyed[K]) Len() int { return kl.keys.len() }

// Evictions returns how many idle keys have been forgotten so far.
func (kl *Keyed[K]) Evictions() uint64 { return kl.keys.evictions() }
