package pool

import "time"

// EventKind says what happened in an [Event].
type EventKind uint8

const (
	EventAcquired     EventKind = iota + 1 // a resource was lent; Duration is the wait (0 when one was idle)
	EventReleased                          // a resource came back
	EventCreated                           // a resource was created; Duration is how long creation took
	EventCreateFailed                      // creation failed; Err is why, Duration how long it took
	EventDestroyed                         // a resource was destroyed; Reason is why
	EventTimedOut                          // an Acquire hit its context deadline; Duration is the wait
	EventCanceled                          // an Acquire's context was canceled; Duration is the wait
	EventLeak                              // a resource has been held longer than WithLeakDetection allows
)

var eventNames = [...]string{"unknown", "acquired", "released", "created", "create-failed", "destroyed",
	"timed-out", "canceled", "leak"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return eventNames[0]
}

// Event is what hooks set with [WithHook] receive. Only the fields named by its Kind are set.
type Event struct {
	Kind     EventKind
	Duration time.Duration // the wait, the creation time, or how long a leaked resource has been held
	Reason   DestroyReason // for EventDestroyed
	Err      error         // for EventCreateFailed
	Stack    string        // for EventLeak with stacks on: where the resource was acquired
}

// DestroyReason says why a resource was destroyed.
type DestroyReason uint8

const (
	ReasonIdle       DestroyReason = iota // idle longer than WithMaxIdleTime
	ReasonLifetime                        // older than WithMaxLifetime
	ReasonValidation                      // failed the WithValidate check, on borrow or by keepalive
	ReasonBroken                          // the holder called Resource.Destroy
	ReasonClosed                          // the pool was closed
	ReasonReset                           // Reset retired it
	ReasonResize                          // SetMaxSize shrank the pool below it
	numReasons
)

var reasonNames = [...]string{"idle", "lifetime", "validation", "broken", "closed", "reset", "resize"}

func (r DestroyReason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Stats is a snapshot of a pool's gauges and counters. Counters only grow over the pool's life.
type Stats struct {
	MaxSize  int // the current maximum size
	Total    int // resources that exist: idle, in use, being created or being destroyed
	Idle     int // resources ready to lend
	InUse    int // resources lent
	Creating int // creations under way
	Waiting  int // Acquire calls waiting for a resource

	Acquires     int64             // successful acquisitions
	Waits        int64             // acquisitions that had to wait
	WaitTime     time.Duration     // total time those waited
	Canceled     int64             // Acquire calls whose context was canceled while waiting
	TimedOut     int64             // Acquire calls whose context deadline passed while waiting
	Created      int64             // resources created
	CreateFailed int64             // creations that failed
	Destroyed    [numReasons]int64 // resources destroyed, indexed by DestroyReason; see DestroyedBy
}

// DestroyedBy returns how many resources were destroyed for reason.
func (s Stats) DestroyedBy(reason DestroyReason) int64 {
	if reason >= numReasons {
		return 0
	}
	return s.Destroyed[reason]
}
