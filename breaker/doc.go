// Package breaker is a circuit breaker: it stops calling a dependency that keeps failing or slowing down,
// gives it time to recover, and lets a few probes decide when to call it again.
//
// A [Breaker] is closed while the dependency is healthy: every call goes through and its outcome is recorded in
// a window, the last n calls ([WithCountWindow]) or the last d of time ([WithTimeWindow]). Once the window
// holds [WithMinimumCalls] calls, the breaker opens when the share of failures reaches [WithFailureRate] or
// the share of slow calls reaches [WithSlowCallRate]; [WithConsecutiveFailures] opens it after n failures in a
// row. Open, it rejects calls with an error matching [ErrOpen] for [WithOpenTimeout], which can grow with
// [WithOpenBackoff] and spread with [WithOpenJitter]. The next call after that moves it to half-open: at most
// [WithHalfOpenCalls] probes go through, and their outcomes close or reopen it. A half-open breaker whose probes
// do not decide within [WithHalfOpenMaxWait] reopens, so a lost probe cannot wedge it.
//
// Outcomes are classified by [WithClassifier]; by default a canceled call is ignored, since the caller left
// and the dependency did not fail, while a deadline exceeded is a failure. A panic is recorded as a failure
// and goes on.
//
// Use [Breaker.Do] or [Call] around a call, or [Breaker.Allow] and [Permit.Done] when the call does not fit
// in a function. [Breaker.ForceOpen], [Breaker.Disable] and [Breaker.Reset] are the manual controls, and
// [WithOnStateChange] reports transitions, outside any lock, with the metrics that caused them.
//
// The breaker runs no goroutine: windows rotate and timeouts expire when a call looks at them. The closed
// path takes no lock and reads the clock only when the configuration needs it (a time window or the slow-call
// rule); with a count window and no slow-call rule, a healthy breaker admits and records a call with two
// atomic loads.
package breaker
