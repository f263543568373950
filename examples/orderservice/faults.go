package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// errInjected is what a dependency returns when fault injection makes a call fail.
var errInjected = errors.New("injected failure")

// Faults is the fault injection of one simulated dependency, settable at start-up and at run time.
// It is safe for concurrent use.
type Faults struct {
	mu sync.Mutex // guards the fields below
	FaultSettings
}

// FaultSettings are the knobs of [Faults], as the admin endpoint reads and writes them.
type FaultSettings struct {
	FailureRate float64  `json:"failure_rate"` // share of calls that fail, in [0, 1]
	Latency     Duration `json:"latency"`      // added to every call
	Outage      bool     `json:"outage"`       // every call fails at once
}

// Validate reports settings that make no sense.
func (s FaultSettings) Validate() error {
	if s.FailureRate < 0 || s.FailureRate > 1 {
		return fmt.Errorf("failure_rate must be in [0, 1], got %v", s.FailureRate)
	}
	if s.Latency < 0 {
		return fmt.Errorf("latency must be >= 0, got %s", time.Duration(s.Latency))
	}
	return nil
}

// Get returns the current settings.
func (f *Faults) Get() FaultSettings {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.FaultSettings
}

// Set replaces the settings.
func (f *Faults) Set(s FaultSettings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.FaultSettings = s
	return nil
}

// Apply plays the faults for one call: it waits for the added latency (or until ctx ends) and then decides
// whether the call fails.
func (f *Faults) Apply(ctx context.Context) error {
	s := f.Get()
	if s.Outage {
		return fmt.Errorf("%w: outage", errInjected)
	}
	if s.Latency > 0 {
		t := time.NewTimer(time.Duration(s.Latency))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		}
	}
	if s.FailureRate > 0 && rand.Float64() < s.FailureRate {
		return fmt.Errorf("%w: failure rate %v", errInjected, s.FailureRate)
	}
	return nil
}

// Duration is a time.Duration that reads and writes JSON as "250ms".
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string such as "250ms".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"250ms\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
