package cache

import "errors"

// ErrNotFound reports that a key has no value. A loader returns it (or an error wrapping it) when the source of
// truth has no such key; [Cache.Get] returns it when no tier and no loader has the key. With [WithNegativeTTL]
// the answer itself is cached, so repeated reads of a missing key stop reaching the loader.
var ErrNotFound = errors.New("cache: not found")

// ErrClosed is returned by calls that would need the remote tier, the loader or an invalidation after
// [Cache.Close].
var ErrClosed = errors.New("cache: closed")

// ErrLoadAborted reports that a load ended without an answer because the loader (or bulk loader) panicked or
// called [runtime.Goexit] (as t.FailNow does) instead of returning. Every caller waiting for that load gets an
// error wrapping it, whose text carries the panic value and stack; nothing is cached, the panic goes no
// further, and the next read of the key loads it again.
var ErrLoadAborted = errors.New("cache: load aborted")

// abortError is the error of an aborted load.
type abortError struct {
	what  string // "loader panicked: <value>", or what exited
	stack []byte // where the loader panicked; nil for runtime.Goexit
}

func (e *abortError) Error() string {
	if e.stack == nil {
		return ErrLoadAborted.Error() + ": " + e.what
	}
	return ErrLoadAborted.Error() + ": " + e.what + "\n\n" + string(e.stack)
}

func (e *abortError) Unwrap() error { return ErrLoadAborted }

// errGoexit is the error of a load whose goroutine ended in runtime.Goexit, called by the loader or by other
// code the load runs (a Remote or a Codec).
var errGoexit error = &abortError{what: "runtime.Goexit was called during the load"}
