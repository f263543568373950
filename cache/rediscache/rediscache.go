package rediscache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluice-go/sluice/cache"
)

// Store is a [cache.Remote] on Redis. It is safe for concurrent use; the zero value is not usable, make one
// with [New]. Its calls end at their context's deadline only if the client has ContextTimeoutEnabled (see the
// package doc).
type Store struct {
	client  redis.UniversalClient
	cluster bool
}

var _ cache.Remote = (*Store)(nil)

// New returns a Store using client. It fails if client is nil.
func New(client redis.UniversalClient) (*Store, error) {
	if client == nil {
		return nil, errors.New("rediscache: New: client must not be nil")
	}
	_, cluster := client.(*redis.ClusterClient)
	return &Store{client: client, cluster: cluster}, nil
}

// Get implements [cache.Remote].
func (s *Store) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := s.client.Get(ctx, key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return b, true, nil
}

// MGet implements [cache.Remote] with one MGET, or on a cluster one pipeline of GETs (MGET cannot span slots).
func (s *Store) MGet(ctx context.Context, keys []string) ([][]byte, []bool, error) {
	vals, found := make([][]byte, len(keys)), make([]bool, len(keys))
	if len(keys) == 0 {
		return vals, found, nil
	}
	if s.cluster {
		cmds := make([]*redis.StringCmd, len(keys))
		_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = p.Get(ctx, k)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, nil, err
		}
		for i, cmd := range cmds {
			b, err := cmd.Bytes()
			switch {
			case errors.Is(err, redis.Nil):
			case err != nil:
				return nil, nil, err
			default:
				vals[i], found[i] = b, true
			}
		}
		return vals, found, nil
	}
	res, err := s.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, nil, err
	}
	if len(res) != len(keys) {
		return nil, nil, fmt.Errorf("rediscache: MGET returned %d values for %d keys", len(res), len(keys))
	}
	for i, v := range res {
		if str, ok := v.(string); ok {
			vals[i], found[i] = []byte(str), true
		}
	}
	return vals, found, nil
}

// Set implements [cache.Remote]; ttl <= 0 stores the value without expiry.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl < 0 {
		ttl = 0
	}
	return s.client.Set(ctx, key, value, ttl).Err()
}

// Delete implements [cache.Remote].
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.client.Del(ctx, key).Err()
}
