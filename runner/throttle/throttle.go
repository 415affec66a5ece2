// Package throttle decides whether a migration should pause its writes, and why. Collectors read
// the servers (Threads_running and other global status counters, replica lag from a heartbeat,
// replication health), an optional HTTP check and a manual pause; a pure function turns their
// latest readings into one Decision. Collecting is kept apart from deciding, as in gh-ost's
// throttler, so the decision logic is testable without a server and every reason is data that
// the runner, gh-ost, the store and the front doors can show.
package throttle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Source names the input a throttle decision comes from. The set is bounded so that it can serve
// as a metrics label.
type Source string

// The sources, in the order the decision ranks them (most severe first).
const (
	SourceNone           Source = ""
	SourceCriticalLoad   Source = "critical_load"
	SourceManual         Source = "manual"
	SourceReplicaStopped Source = "replica_stopped"
	SourceReplicaLag     Source = "replica_lag"
	SourceMaxLoad        Source = "max_load"
	SourceHTTP           Source = "http"
	// SourceServiceHealth (service.go) comes last.
)

// Sources lists every non-empty source.
var Sources = []Source{SourceCriticalLoad, SourceManual, SourceReplicaStopped, SourceReplicaLag, SourceMaxLoad, SourceHTTP, SourceServiceHealth}

// Decision is the throttler's verdict at one moment. The zero value means "go ahead".
type Decision struct {
	Throttle bool   `json:"throttle"`
	Critical bool   `json:"critical"` // the migration must abort (critical load held past its grace)
	Reason   string `json:"reason,omitempty"`
	Source   Source `json:"source,omitempty"`
	// Subject is what the reason is about: a replica name, a status variable, a URL.
	Subject string `json:"subject,omitempty"`
	// Value and Limit are the observed figure and its threshold (replica lag in milliseconds,
	// status counters as read, a service's p99 in milliseconds or its error rate in percent);
	// zero when the source has no figure.
	Value float64   `json:"value"`
	Limit float64   `json:"limit"`
	Since time.Time `json:"since"` // when this state (throttle, critical, source, subject) began
}

// SameState reports whether d and o describe the same situation, ignoring figures that move on
// every reading (a lag of 1900 ms and then 2100 ms is one throttle, not two).
func (d Decision) SameState(o Decision) bool {
	return d.Throttle == o.Throttle && d.Critical == o.Critical && d.Source == o.Source && d.Subject == o.Subject
}

// Throttler is what engines consult: the current decision at any time, and its changes as they
// happen.
type Throttler interface {
	// Decision returns the current decision.
	Decision() Decision
	// Subscribe returns a channel that receives each new decision state (only the latest one is
	// kept if the reader is slow) and a cancel func that unsubscribes and closes the channel.
	Subscribe() (changes <-chan Decision, cancel func())
}

// Noop never throttles.
type Noop struct{}

var (
	_ Throttler = Noop{}
	_ Throttler = (*Monitor)(nil)
)

// Decision always says go ahead.
func (Noop) Decision() Decision { return Decision{} }

// Subscribe returns a channel that never receives; cancel closes it.
func (Noop) Subscribe() (<-chan Decision, func()) {
	ch := make(chan Decision)
	var once sync.Once
	return ch, func() { once.Do(func() { close(ch) }) }
}

// ErrCritical is matched (errors.Is) by a *CriticalError.
var ErrCritical = errors.New("throttle: critical load")

// CriticalError says the throttler demands an abort.
type CriticalError struct {
	Decision Decision
}

// Error says why the throttler demands an abort.
func (e *CriticalError) Error() string {
	return fmt.Sprintf("throttle: critical: %s", e.Decision.Reason)
}

// Is makes errors.Is(err, ErrCritical) true.
func (e *CriticalError) Is(target error) bool { return target == ErrCritical }

// WaitUntilClear blocks until t does not throttle. It calls onWait (if not nil) with the first
// throttling decision and with each change while it waits, returns a *CriticalError when t turns
// critical, and ctx.Err() when ctx ends first.
func WaitUntilClear(ctx context.Context, t Throttler, onWait func(Decision)) error {
	changes, cancel := t.Subscribe()
	defer cancel()
	d := t.Decision()
	for {
		if d.Critical {
			return &CriticalError{Decision: d}
		}
		if !d.Throttle {
			return nil
		}
		if onWait != nil {
			onWait(d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case next, ok := <-changes:
			if !ok {
				return fmt.Errorf("throttle: subscription closed while throttled: %s", d.Reason)
			}
			d = next
		}
	}
}
