package ctxutil

import (
	"context"
	"fmt"
)

// Key is a typed context key: values stored with it have type T, so reading them needs no type assertion.
//
// Each key made by [NewKey] is distinct from every other key, even one with the same name and type.
// Keys are comparable and safe for concurrent use. The zero Key is not usable: [Key.WithValue] panics with it
// and [Key.Value] finds nothing.
type Key[T any] struct {
	info *keyInfo
}

type keyInfo struct{ name string }

// NewKey returns a new key for values of type T. The name is only for printing and debugging.
func NewKey[T any](name string) Key[T] {
	return Key[T]{info: &keyInfo{name: name}}
}

// WithValue returns a copy of ctx in which k holds v.
func (k Key[T]) WithValue(ctx context.Context, v T) context.Context {
	if k.info == nil {
		panic("ctxutil: WithValue on the zero Key; make keys with NewKey")
	}
	return context.WithValue(ctx, k.info, v)
}

// Value returns the value k holds in ctx, and whether it holds one.
func (k Key[T]) Value(ctx context.Context) (T, bool) {
	if k.info == nil {
		var zero T
		return zero, false
	}
	v, ok := ctx.Value(k.info).(T)
	return v, ok
}

// ValueOr returns the value k holds in ctx, or def when it holds none.
func (k Key[T]) ValueOr(ctx context.Context, def T) T {
	if v, ok := k.Value(ctx); ok {
		return v
	}
	return def
}

// String returns the key's name and type, as in "tenant (string)".
func (k Key[T]) String() string {
	var zero T
	if k.info == nil {
		return fmt.Sprintf("<zero key> (%T)", zero)
	}
	return fmt.Sprintf("%s (%s)", k.info.name, typeName[T]())
}

func typeName[T any]() string {
	return fmt.Sprintf("%T", (*T)(nil))[1:]
}

// String makes the stored key print as its name, for example in a context's String method.
func (i *keyInfo) String() string { return "ctxutil.Key(" + i.name + ")" }
