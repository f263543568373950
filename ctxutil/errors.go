package ctxutil

import "errors"

var (
	// ErrBudgetExhausted is the cause (see [context.Cause]) of a context made by [WithBudget] or [WithReserve]
	// that reached its deadline. The cause wraps it with the budget that ran out.
	ErrBudgetExhausted = errors.New("ctxutil: deadline budget exhausted")

	// ErrInsufficientBudget is returned by [Require] when the time left before the deadline is less than needed.
	ErrInsufficientBudget = errors.New("ctxutil: insufficient time left before the deadline")

	// ErrMalformedTimeout is returned by [ParseTimeout] for a value outside the grpc-timeout grammar.
	ErrMalformedTimeout = errors.New("ctxutil: malformed timeout")

	// ErrMalformedTraceParent is returned by [ParseTraceParent] for a value that is not a valid W3C traceparent.
	ErrMalformedTraceParent = errors.New("ctxutil: malformed traceparent")
)
