// Package pool is a generic resource pool for connections of any kind, with the lifecycle of HikariCP inside
// its core: minimum idle, idle timeout, lifetime with jitter, validation on borrow, keepalive, leak detection,
// runtime resizing, and hooks for metrics.
//
// Idle resources are reused last in, first out, so the warm ones stay in use and the rest can time out.
// Waiters are served first in, first out, by direct hand-off, and a newcomer never overtakes them.
// Acquiring and releasing an existing resource allocates nothing, waiting included, and reads the clock once,
// on release, for the idle stamp. [WithCoarseClock] replaces that read with a coarse clock that reads the clock once
// per tick while the pool is busy and does not run at all while it is idle; its readings are never ahead of the
// clock and at most a resolution behind. While nobody waits, a released resource is parked in one of a few slots (up
// to four per core) and the next Acquire takes it from there without the lock: one compare-and-swap each way, which
// also counts the acquisition for Stats. A goroutine starts at the slot its stack's address hashes to, so callers on
// different cores mostly keep out of each other's way and one caller gets back the resource it released last; when
// two busy callers keep meeting in one slot, the pool changes the hash. Slots and the fields of a resource that
// Acquire and Release touch are kept off each other's cache lines. An Acquire that finds every resource lent and
// nobody queued polls the slots for about a microsecond before it queues, one caller at a time, so a resource
// released on another core changes hands without a sleep and a wake-up; it stops as soon as a waiter queues, so it
// never overtakes one, and a spin that ends with a resource does not count as a wait in Stats.
//
// A creation runs on a context that keeps the values of the Acquire that needed it but not its cancellation,
// so a caller that gives up does not abort the dial: the new resource goes to the next waiter or to the idle
// set. A failed creation is returned to the oldest waiter, frees its slot, and delays the next creation by an
// exponential backoff.
//
// The pool never holds its lock while it calls the create, destroy and validate funcs or the hooks.
package pool
