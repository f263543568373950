// Package ctxutil holds the context helpers that Go services need and the standard library leaves out.
//
// The standard library already has [context.AfterFunc], [context.WithoutCancel], [context.WithDeadlineCause]
// and [context.Cause]; ctxutil builds on them instead of wrapping them again. It offers:
//
//   - Typed context keys: [NewKey] returns a [Key] whose [Key.Value] needs no type assertion.
//   - Request-scoped values: a request ID ([WithRequestID], [RequestID]), the W3C trace context
//     ([WithTraceContext], [TraceParent], [TraceID]) and a zap logger ([WithLogger], [Logger], [WithLogFields]).
//     They share one context entry, so reading any of them is a single lookup that allocates nothing.
//   - Deadline budgets: [Remaining], [WithBudget] (a share of the time left for one branch of a fan-out),
//     [WithReserve] (end early, keeping time to answer) and [Require] (fail fast when too little is left).
//     The contexts they make carry a cause, read with [context.Cause], that says which budget ran out.
//   - Context plumbing: [Merge] (values from one context, cancellation from two) and [Detach] (values without
//     the parent's cancellation, for work that must outlive the caller, bounded by its own limit).
//   - Propagation over HTTP: [FormatTimeout] and [ParseTimeout] in the gRPC grpc-timeout format, [Inject] for
//     outbound requests and [Middleware] for inbound ones. Inbound values are validated, never trusted: an
//     oversized request ID, a malformed timeout or a bad traceparent is replaced or ignored.
//
// A typical handler chain:
//
//	mw, err := ctxutil.Middleware(ctxutil.WithBaseLogger(logger), ctxutil.WithMaxTimeout(10*time.Second))
//	if err != nil { ... }
//	http.ListenAndServe(":8080", mw(mux))
//
// and inside a handler:
//
//	ctxutil.Logger(r.Context()).Info("charging", zap.Int("cents", amount)) // carries request_id, trace_id, route
//	ctx, cancel := ctxutil.WithReserve(r.Context(), 50*time.Millisecond)  // keep 50ms to write the answer
//	defer cancel()
//	req, _ := http.NewRequestWithContext(ctx, "POST", paymentURL, body)
//	ctxutil.Inject(ctx, req.Header) // request ID, trace context and the remaining budget travel on
package ctxutil
