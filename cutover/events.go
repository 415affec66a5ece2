package cutover

import "context"

// EventKind classifies a gate decision. The values are valid store event kinds (lower case and
// underscores) so the sink can store them as they are.
type EventKind string

// Event kinds the gate records.
const (
	EventGateWaiting      EventKind = "gate_waiting"        // closed, with the failing lines as data
	EventGateOpened       EventKind = "gate_opened"         // every line passed at one check
	EventGateClosed       EventKind = "gate_closed"         // Await ended without opening (cancel, error)
	EventChecksum         EventKind = "checksum"            // a pass finished, with its result
	EventChecksumMismatch EventKind = "checksum_mismatch"   // a chunk still differed after its rechecks
	EventParticipant      EventKind = "participant"         // an instance not ready, late or lapsed
	EventPhase            EventKind = "participant_phase"   // a phase delivered to the instances, with results
	EventApproval         EventKind = "approval"            // manual approval given
	EventRound            EventKind = "prepare_round"       // a prepare round aborted, with why and the backoff
	EventEvicted          EventKind = "participant_evicted" // a lapsed instance evicted by policy: who and why
)

// Event is one decision of the gate for the migration's event log.
type Event struct {
	MigrationID string
	Kind        EventKind
	Message     string
	Data        any // JSON-serializable detail: a Checklist, lines, a phase result
}

// EventSink receives the gate's decisions. The lead wires it to the store:
//
//	cutover.EventSinkFunc(func(ctx context.Context, e cutover.Event) error {
//		return st.AddEvent(ctx, e.MigrationID, store.EventKind(e.Kind), e.Message, e.Data)
//	})
type EventSink interface {
	Record(ctx context.Context, e Event) error
}

// EventSinkFunc adapts a function to EventSink.
type EventSinkFunc func(ctx context.Context, e Event) error

// Record calls f.
func (f EventSinkFunc) Record(ctx context.Context, e Event) error { return f(ctx, e) }

// NoopSink drops every event.
type NoopSink struct{}

var (
	_ EventSink = NoopSink{}
	_ EventSink = EventSinkFunc(nil)
)

// Record does nothing.
func (NoopSink) Record(context.Context, Event) error { return nil }
