package ratelimit

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
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
// A Keyed is safe for concurrent use. The zero value is not usable; make one with [NewKeyed].
type Keyed[K comparable] struct {
	p          atomic.Pointer[gcraParams]
	clk        nanoClock
	k          int64
	burstFixed bool
	keys       keyMap[int64] // TAT per key; a key whose TAT has passed is at full quota, as if absent
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
	kl := &Keyed[K]{clk: newNanoClock(c.now), k: k, burstFixed: c.burst > 0,
		keys: newKeyMap(&c, func(tat int64) int64 { return tat })}
	kl.p.Store(p)
	return kl, nil
}

// Allow reports whether one event may happen now for key, and takes a token if so.
func (kl *Keyed[K]) Allow(key K) bool {
	d, _, _ := kl.reserve(key, 1, kl.clk.Now()*kl.k, false, 0, false)
	return d.Allowed
}

// AllowN reports whether n events may happen now for key, taking them only if so. It panics if n < 0.
func (kl *Keyed[K]) AllowN(key K, n int) Decision {
	d, _, _ := kl.reserve(key, n, kl.clk.Now()*kl.k, false, 0, true)
	return d
}

// Limit is AllowN with the reason of a denial that waiting cannot cure: an error matching [ErrExceedsBurst] or
// [ErrTooManyKeys]. It never blocks; ctx is not used. With K = string, *Keyed[string] is a [KeyLimiter].
func (kl *Keyed[K]) Limit(_ context.Context, key K, n int) (Decision, error) {
	d, _, err := kl.reserve(key, n, kl.clk.Now()*kl.k, false, 0, true)
	return d, err
}

// reserve is the one code path of every Keyed call: it admits n events for key at now or, with future, reserves
// them for later if that is before deadline (units; 0 means none). It returns the reservation (zero if nothing
// was taken), and a Decision with every field only if detail is set (Allow needs only Allowed).
func (kl *Keyed[K]) reserve(key K, n int, now int64, future bool, deadline int64, detail bool) (Decision, keyedReservation, error) {
	if n < 0 {
		panic("ratelimit: negative n")
	}
	p := kl.p.Load()
	s, h := locate(&kl.keys, key)
	s.mu.Lock()
	tat, found := s.m[h]
	if n > p.burst {
		s.mu.Unlock()
		return p.decision(tat, now, kl.k, false, Forever), keyedReservation{},
			fmt.Errorf("%w: n=%d, burst=%d", ErrExceedsBurst, n, p.burst)
	}
	cost := int64(n) * p.t
	nt := max(tat, now) + cost
	if due := nt - p.tau; due > now {
		if !future || deadline != 0 && due > deadline {
			s.mu.Unlock()
			if !detail && !future {
				return Decision{}, keyedReservation{}, nil
			}
			d := p.decision(tat, now, kl.k, false, unitsToDur(due-now, kl.k))
			if future {
				return d, keyedReservation{}, fmt.Errorf("%w: needs %s", ErrWouldExceedDeadline, d.RetryAfter)
			}
			return d, keyedReservation{}, nil
		}
	}
	if !found {
		if n == 0 {
			s.mu.Unlock()
			return p.decision(now, now, kl.k, true, 0), keyedReservation{}, nil
		}
		if !kl.keys.room(s, now) {
			retry := unitsToDur(s.earliest-now, kl.k)
			s.mu.Unlock()
			return Decision{Limit: p.burst, RetryAfter: max(retry, 1)}, keyedReservation{}, ErrTooManyKeys
		}
		s.earliest = min(s.earliest, nt)
	}
	s.m[h] = nt
	s.mu.Unlock()
	res := keyedReservation{tat: nt, cost: cost, due: nt - p.tau}
	if !detail {
		return Decision{Allowed: true}, res, nil
	}
	return p.decision(nt, now, kl.k, true, 0), res, nil
}

// keyedReservation is what a call took: the TAT it wrote, its cost and when it may be used (units).
type keyedReservation struct{ tat, cost, due int64 }

// Wait is WaitN(ctx, key, 1).
func (kl *Keyed[K]) Wait(ctx context.Context, key K) error { return kl.WaitN(ctx, key, 1) }

// WaitN blocks until n tokens are available for key and takes them, or until ctx ends. The reservation is made
// on arrival, so waiters on a key are served in order. It fails at once, taking nothing, with
// [ErrWouldExceedDeadline], [ErrExceedsBurst] or [ErrTooManyKeys]. When ctx ends while waiting it returns
// ctx.Err() and gives the reservation back if no later one on the same key is stacked on it; otherwise the
// tokens stay taken (giving them back would let the later waiters and a new caller share one slot).
func (kl *Keyed[K]) WaitN(ctx context.Context, key K, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := kl.clk.Now() * kl.k
	dl, ok := deadlineUnits(ctx, &kl.clk, kl.k)
	if ok {
		dl = max(dl, 1) // 0 means no deadline
	}
	_, res, err := kl.reserve(key, n, now, true, dl, false)
	if err != nil || res.due <= now {
		return err
	}
	due := res.due
	t := time.NewTimer(unitsToDur(due-now, kl.k))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s, h := locate(&kl.keys, key)
			s.mu.Lock()
			defer s.mu.Unlock()
			if now := kl.clk.Now() * kl.k; due <= now {
				return nil // the slot came as ctx ended: it was taken
			}
			if tat, ok := s.m[h]; ok && tat == res.tat {
				s.m[h] = tat - res.cost
				s.earliest = min(s.earliest, tat-res.cost) // it may be idle sooner now
			}
			return ctx.Err()
		case <-t.C:
			if now := kl.clk.Now() * kl.k; due > now {
				t.Reset(unitsToDur(due-now, kl.k))
				continue
			}
			return nil
		}
	}
}

// SetRate changes the rate and burst of every key at once. A key keeps its state as a time: a key throttled until
// some moment stays throttled until then. Unless [WithBurst] was given the burst follows r.Limit.
func (kl *Keyed[K]) SetRate(r Rate) error {
	if err := r.Validate(); err != nil {
		return err
	}
	burst := r.Limit
	if kl.burstFixed {
		burst = kl.p.Load().burst
	}
	p, err := newParams(r, burst, 0, kl.k)
	if err != nil {
		return err
	}
	kl.p.Store(p)
	return nil
}

// Len returns how many keys are tracked now (keys at full quota may or may not be counted yet).
func (kl *Keyed[K]) Len() int { return kl.keys.len() }

// Evictions returns how many idle keys have been forgotten so far.
func (kl *Keyed[K]) Evictions() uint64 { return kl.keys.evictions() }
