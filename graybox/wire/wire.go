// Package wire is the contract between the ghostgate controller (the cut-over gate and the HTTP API
// of `migrate serve`) and the services that take part in a cut-over (through package graybox).
//
// It holds the JSON messages of the participant protocol, the API paths, and the request signing
// both sides use. It lives in graybox's module (which depends on the standard library only), so
// that any service can import it; the controller imports the same package: one source of truth.
//
// # The protocol
//
// A participant registers (POST PathParticipants) and receives a lease; it keeps the lease alive
// with heartbeats (POST PathHeartbeat) and deregisters when it stops (DELETE PathParticipant). An
// instance whose lease lapses is not counted as ready. When a migration of one of its tables
// reaches the gate, the controller delivers PhasePrepare, and after the rename PhaseCommit (or
// PhaseAbort when the rename failed, timed out or was cancelled):
//
//   - ModeHTTP: the controller POSTs a signed PhaseRequest to the instance's hook URL (HookPath by
//     convention) and the instance answers with a signed Ack in the response body.
//   - ModeSignal: the controller sends the registered signal (SIGUSR2 by default) to the
//     registered pid; a signal carries no payload, so the instance fetches its pending phase (GET
//     PathPending: 200 with a PhaseRequest, or 204 when nothing is pending) and POSTs its Ack to
//     PathAck.
//
// Delivery is idempotent: the controller may deliver the same phase of the same migration again
// (a retry, with a higher Attempt); a participant runs its callback once per (migration, phase)
// and answers every delivery with the same Ack.
//
// # Signing
//
// Every request in both directions carries HeaderTimestamp (unix milliseconds) and HeaderSignature
// = hex(HMAC-SHA256(secret, method + "\n" + path + "\n" + timestamp + "\n" + body)); see Sign and
// Verifier. A hook's response is signed too, bound to the request it answers (SignResponse).
package wire

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Phase is one step of the two-phase cut-over protocol.
type Phase string

// The phases: prepare, then commit after a successful rename or abort otherwise.
const (
	// PhasePrepare asks the instance to get ready for the new schema (e.g. start dual-writing).
	// A participant answers ready=false when it cannot; that keeps the gate closed.
	PhasePrepare Phase = "prepare"
	// PhaseCommit says the rename has happened: the new schema version is live.
	PhaseCommit Phase = "commit"
	// PhaseAbort says the rename did not and will not happen: go back to the old version.
	PhaseAbort Phase = "abort"
)

// Valid reports whether p is a known phase.
func (p Phase) Valid() bool {
	return p == PhasePrepare || p == PhaseCommit || p == PhaseAbort
}

// Mode is how the controller reaches a participant.
type Mode string

// The delivery modes.
const (
	// ModeHTTP: the controller POSTs phases to the instance's hook URL.
	ModeHTTP Mode = "http"
	// ModeSignal: the controller signals the instance's pid, which then fetches its pending phase.
	ModeSignal Mode = "signal"
)

// Valid reports whether m is a known mode.
func (m Mode) Valid() bool { return m == ModeHTTP || m == ModeSignal }

// DefaultSignal is the signal name used in ModeSignal when a registration names none.
const DefaultSignal = "SIGUSR2"

// signals lists the signal names a registration may use. Both are free for applications by
// POSIX and are not sent by the runtime or terminals, unlike SIGHUP/SIGINT/SIGTERM.
var signals = []string{"SIGUSR1", "SIGUSR2"}

// ValidSignal reports whether name is a signal a participant may register for.
func ValidSignal(name string) bool {
	for _, s := range signals {
		if s == name {
			return true
		}
	}
	return false
}

// ErrInvalid is wrapped by every validation error of this package.
var ErrInvalid = errors.New("wire: invalid message")

// FieldError says which field of a message is invalid and why.
type FieldError struct {
	Message string // the message type, e.g. "PhaseRequest"
	Field   string // the JSON field name
	Reason  string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("wire: %s.%s: %s", e.Message, e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalid(msg, field, reason string) error {
	return &FieldError{Message: msg, Field: field, Reason: reason}
}

// PhaseRequest asks one participant to enter a phase for one migration.
type PhaseRequest struct {
	MigrationID string    `json:"migration_id"`
	Schema      string    `json:"schema"`
	Table       string    `json:"table"`
	OldVersion  string    `json:"old_version"` // the schema version before the rename, e.g. "v1"
	NewVersion  string    `json:"new_version"` // the schema version after the rename, e.g. "v2"
	Phase       Phase     `json:"phase"`
	Deadline    time.Time `json:"deadline"` // RFC 3339; the ack must arrive before it
	Attempt     int       `json:"attempt"`  // 1 for the first delivery, higher for re-deliveries
	// HoldMillis (prepare only) bounds how long the instance stays prepared (sheds writes,
	// reports migrating) after it received the request without hearing commit or abort: when it
	// passes, the instance stops by itself. It is a duration, not a time, so that the bound does
	// not depend on the two clocks agreeing. 0 (an older controller) leaves the bound to the
	// participant's own maximum. See issue 10: shedding must be bounded at both ends.
	HoldMillis int64 `json:"hold_ms,omitempty"`
}

// Hold is HoldMillis as a duration.
func (r PhaseRequest) Hold() time.Duration { return time.Duration(r.HoldMillis) * time.Millisecond }

// Validate checks that every field the participant relies on is set.
func (r PhaseRequest) Validate() error {
	const m = "PhaseRequest"
	switch {
	case r.MigrationID == "":
		return invalid(m, "migration_id", "empty")
	case r.Schema == "":
		return invalid(m, "schema", "empty")
	case r.Table == "":
		return invalid(m, "table", "empty")
	case r.OldVersion == "":
		return invalid(m, "old_version", "empty")
	case r.NewVersion == "":
		return invalid(m, "new_version", "empty")
	case r.OldVersion == r.NewVersion:
		return invalid(m, "new_version", "equals old_version")
	case !r.Phase.Valid():
		return invalid(m, "phase", fmt.Sprintf("unknown phase %q", r.Phase))
	case r.Deadline.IsZero():
		return invalid(m, "deadline", "missing")
	case r.Attempt < 1:
		return invalid(m, "attempt", "must be at least 1")
	case r.HoldMillis < 0:
		return invalid(m, "hold_ms", "negative")
	}
	return nil
}

// QualifiedTable is "schema.table", the form registrations use.
func (r PhaseRequest) QualifiedTable() string { return r.Schema + "." + r.Table }

// Key identifies a delivery for idempotency: the same key delivered twice is the same step.
func (r PhaseRequest) Key() string { return r.MigrationID + "/" + string(r.Phase) }

// Ack is a participant's answer to a PhaseRequest. Ready=false (with a Message saying why) means
// "not ready" for prepare, and "failed to apply" for commit and abort.
type Ack struct {
	InstanceID  string `json:"instance_id"`
	MigrationID string `json:"migration_id"`
	Phase       Phase  `json:"phase"`
	Ready       bool   `json:"ready"`
	Message     string `json:"message,omitempty"`
}

// Validate checks the identifying fields.
func (a Ack) Validate() error {
	const m = "Ack"
	switch {
	case a.InstanceID == "":
		return invalid(m, "instance_id", "empty")
	case a.MigrationID == "":
		return invalid(m, "migration_id", "empty")
	case !a.Phase.Valid():
		return invalid(m, "phase", fmt.Sprintf("unknown phase %q", a.Phase))
	}
	return nil
}

// Registration announces one service instance to the controller.
type Registration struct {
	Service    string   `json:"service"`
	InstanceID string   `json:"instance_id"` // unique per instance, stable for its lifetime
	Tables     []string `json:"tables"`      // "schema.table" entries the instance reads or writes
	Mode       Mode     `json:"mode"`
	HookURL    string   `json:"hook_url,omitempty"` // ModeHTTP: absolute http(s) URL of the hook
	PID        int      `json:"pid,omitempty"`      // ModeSignal: the process to signal
	Signal     string   `json:"signal,omitempty"`   // ModeSignal: "SIGUSR2" (default) or "SIGUSR1"
	Host       string   `json:"host"`               // the instance's host name, shown to the DBA
}

// MaxInstanceIDLen bounds an instance id (a pod name is at most 253 characters).
const MaxInstanceIDLen = 253

// ValidInstanceID reports whether id can name an instance: letters, digits, '.', '_', ':' and
// '-', at most MaxInstanceIDLen, and not "." or "..". The id is a path segment of every
// participant URL, where "." and ".." are resolved away by clients and proxies (issue 10: such
// an instance registered and could then never be evicted).
func ValidInstanceID(id string) bool {
	if id == "" || len(id) > MaxInstanceIDLen || id == "." || id == ".." {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// Validate checks a registration as the controller will.
func (r Registration) Validate() error {
	const m = "Registration"
	switch {
	case r.Service == "":
		return invalid(m, "service", "empty")
	case r.InstanceID == "":
		return invalid(m, "instance_id", "empty")
	case !ValidInstanceID(r.InstanceID):
		return invalid(m, "instance_id", fmt.Sprintf("%q: want 1-%d of A-Z a-z 0-9 . _ : - (not \".\" or \"..\")", r.InstanceID, MaxInstanceIDLen))
	case len(r.Tables) == 0:
		return invalid(m, "tables", "empty")
	}
	for _, t := range r.Tables {
		if s, tb, ok := strings.Cut(t, "."); !ok || s == "" || tb == "" {
			return invalid(m, "tables", fmt.Sprintf("%q is not schema.table", t))
		}
	}
	switch r.Mode {
	case ModeHTTP:
		u, err := url.Parse(r.HookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalid(m, "hook_url", fmt.Sprintf("%q is not an absolute http(s) URL", r.HookURL))
		}
	case ModeSignal:
		if r.PID <= 0 {
			return invalid(m, "pid", "must be positive in signal mode")
		}
		if r.Signal != "" && !ValidSignal(r.Signal) {
			return invalid(m, "signal", fmt.Sprintf("%q is not one of %v", r.Signal, signals))
		}
	default:
		return invalid(m, "mode", fmt.Sprintf("unknown mode %q", r.Mode))
	}
	return nil
}

// SignalName is the signal the controller sends: Signal, or DefaultSignal when empty.
func (r Registration) SignalName() string {
	if r.Signal == "" {
		return DefaultSignal
	}
	return r.Signal
}

// RegistrationResponse is the controller's answer to a registration (201) or a heartbeat (200).
type RegistrationResponse struct {
	InstanceID string `json:"instance_id"`
	// LeaseTTLMillis is how long the lease lasts without a heartbeat.
	LeaseTTLMillis int64 `json:"lease_ttl_ms"`
	// HeartbeatMillis is the interval the controller suggests (0: the participant's own choice,
	// which must stay well under the TTL).
	HeartbeatMillis int64 `json:"heartbeat_ms,omitempty"`
	// LeaseExpires is when the lease lapses unless renewed.
	LeaseExpires time.Time `json:"lease_expires"`
	// Pending says a phase is waiting for this instance. A signal-mode participant fetches it
	// on seeing this, which recovers a signal that was lost or coalesced with another.
	Pending bool `json:"pending,omitempty"`
	// HealthMillis, when positive, asks the participant to push its request figures
	// (HealthReport to PathHealth) at this interval: a migration of one of its tables is running
	// and the controller throttles on the services' health. 0 (also an older controller): the
	// figures in the heartbeats are enough.
	HealthMillis int64 `json:"health_ms,omitempty"`
}

// LeaseTTL is LeaseTTLMillis as a duration.
func (r RegistrationResponse) LeaseTTL() time.Duration {
	return time.Duration(r.LeaseTTLMillis) * time.Millisecond
}

// Heartbeat renews a lease and reports where the instance stands.
type Heartbeat struct {
	InstanceID string `json:"instance_id"`
	// MigrationID and Phase are the last phase the instance applied ("" when none).
	MigrationID string `json:"migration_id,omitempty"`
	Phase       Phase  `json:"phase,omitempty"`
	Version     string `json:"version,omitempty"` // the schema version the instance runs on
	// Table, OldVersion and NewVersion describe that migration ("schema.table" and its
	// versions), so that a controller that restarted (and forgot its deliveries) can send abort
	// to an instance still prepared for a migration that is no longer at the gate.
	Table      string `json:"table,omitempty"`
	OldVersion string `json:"old_version,omitempty"`
	NewVersion string `json:"new_version,omitempty"`
	// Health is the instance's own request figures per table (see TableHealth), when the
	// service records them; an older participant sends none and is simply no health input.
	Health []TableHealth `json:"health,omitempty"`
}

// ParticipantStatus is one participant as the controller shows it (API, TUI, gate checklist).
type ParticipantStatus struct {
	Service     string    `json:"service"`
	InstanceID  string    `json:"instance_id"`
	Host        string    `json:"host"`
	Mode        Mode      `json:"mode"`
	Tables      []string  `json:"tables"`
	MigrationID string    `json:"migration_id,omitempty"` // the migration it takes part in now
	Phase       Phase     `json:"phase,omitempty"`        // the phase last delivered to it
	Acked       bool      `json:"acked"`                  // whether it answered that phase
	Ready       bool      `json:"ready"`                  // its answer
	Message     string    `json:"message,omitempty"`      // its reason when not ready
	LastBeat    time.Time `json:"last_heartbeat"`
	LeaseExpiry time.Time `json:"lease_expires"`
	Live        bool      `json:"live"` // lease not lapsed
	// Controller is the controller of the fleet the instance registered with ("" when the
	// controller answering keeps no shared registry).
	Controller string `json:"controller,omitempty"`
}

// ErrorResponse is the body of every 4xx/5xx answer of the API and of a hook.
type ErrorResponse struct {
	Error string `json:"error"`
}
