package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// memRemote is an in-memory Remote that counts calls and can fail or stall on demand.
type memRemote struct {
	mu      sync.Mutex
	data    map[string]memItem // guarded by mu
	lastTTL time.Duration      // guarded by mu: TTL of the last Set

	gets, mgets, sets, dels atomic.Int64
	fail                    atomic.Bool // every call fails
	stall                   atomic.Bool // every call blocks until its ctx is done
}

type memItem struct {
	b       []byte
	expires time.Time // zero: never
}

var errRemoteDown = errors.New("remote down")

func newMemRemote() *memRemote { return &memRemote{data: make(map[string]memItem)} }

func (r *memRemote) trouble(ctx context.Context) error {
	if r.stall.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	if r.fail.Load() {
		return errRemoteDown
	}
	return nil
}

func (r *memRemote) lookup(key string) ([]byte, bool) {
	it, ok := r.data[key]
	if !ok || (!it.expires.IsZero() && !time.Now().Before(it.expires)) {
		return nil, false
	}
	return it.b, true
}

func (r *memRemote) Get(ctx context.Context, key string) ([]byte, bool, error) {
	r.gets.Add(1)
	if err := r.trouble(ctx); err != nil {
		return nil, false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.lookup(key)
	return b, ok, nil
}

func (r *memRemote) MGet(ctx context.Context, keys []string) ([][]byte, []bool, error) {
	r.mgets.Add(1)
	if err := r.trouble(ctx); err != nil {
		return nil, nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	vals, found := make([][]byte, len(keys)), make([]bool, len(keys))
	for i, k := range keys {
		vals[i], found[i] = r.lookup(k)
	}
	return vals, found, nil
}

func (r *memRemote) Set(ctx context.Context, key string, b []byte, ttl time.Duration) error {
	r.sets.Add(1)
	if err := r.trouble(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	it := memItem{b: b}
	if ttl > 0 {
		it.expires = time.Now().Add(ttl)
	}
	r.data[key] = it
	r.lastTTL = ttl
	return nil
}

func (r *memRemote) Delete(ctx context.Context, key string) error {
	r.dels.Add(1)
	if err := r.trouble(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.data, key)
	return nil
}

func (r *memRemote) raw(key string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookup(key)
}

// bus is an in-process Invalidator: every subscriber but the publisher hears each key, synchronously.
type bus struct {
	mu   sync.Mutex
	subs map[*busSub]bool // guarded by mu
}

type busSub struct {
	b *bus
	h InvalidationHandler
}

func newBus() *bus { return &bus{subs: make(map[*busSub]bool)} }

func (b *bus) Subscribe(_ context.Context, h InvalidationHandler) (Subscription, error) {
	s := &busSub{b: b, h: h}
	b.mu.Lock()
	b.subs[s] = true
	b.mu.Unlock()
	return s, nil
}

func (b *bus) flushAll() {
	for _, s := range b.members() {
		s.h.InvalidateAll()
	}
}

func (b *bus) members() []*busSub {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*busSub
	for s := range b.subs {
		out = append(out, s)
	}
	return out
}

func (s *busSub) Publish(_ context.Context, key string) error {
	for _, o := range s.b.members() {
		if o != s {
			o.h.Invalidate(key)
		}
	}
	return nil
}

func (s *busSub) Close() error {
	s.b.mu.Lock()
	delete(s.b.subs, s)
	s.b.mu.Unlock()
	return nil
}

// mapLocal is a plugged local tier: a locked map with TTLs.
type mapLocal[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]mapItem[V] // guarded by mu
}

type mapItem[V any] struct {
	v       V
	expires time.Time
}

func newMapLocal[K comparable, V any]() *mapLocal[K, V] {
	return &mapLocal[K, V]{m: make(map[K]mapItem[V])}
}

func (l *mapLocal[K, V]) Get(key K) (V, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	it, ok := l.m[key]
	if !ok || (!it.expires.IsZero() && !time.Now().Before(it.expires)) {
		var zero V
		return zero, false
	}
	return it.v, true
}

func (l *mapLocal[K, V]) SetWithTTL(key K, v V, ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	it := mapItem[V]{v: v}
	if ttl > 0 {
		it.expires = time.Now().Add(ttl)
	}
	l.m[key] = it
}

func (l *mapLocal[K, V]) Delete(key K) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.m[key]
	delete(l.m, key)
	return ok
}

func (l *mapLocal[K, V]) Purge() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.m)
}
