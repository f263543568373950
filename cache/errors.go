package cache

import "errors"

// ErrNotFound reports that a key has no value. A loader returns it (or an error wrapping it) when the source of
// truth has no such key; [Cache.Get] returns it when no tier and no loader has the key. With [WithNegativeTTL]
// the answer itself is cached, so repeated reads of a missing key stop reaching the loader.
var ErrNotFound = errors.New("cache: not found")

// ErrClosed is returned by calls that would need the remote tier, the loader or an invalidation after
// [Cache.Close].
var ErrClosed = errors.New("cache: closed")
