package client

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/runner/throttle"
	"github.com/ghostgate/ghostgate/store"
)

// The API's JSON types. The server encodes exactly these values and the client decodes them, so
// they are defined once, here. Values that other packages already define as data (a store row,
// a throttle decision, a gate checklist, a participant status) are embedded as they are.

// Duration is a time.Duration that reads and writes JSON as Go duration text ("1.5s", "250ms"),
// which is what a person types into a curl body.
type Duration time.Duration

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads duration text, or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if nerr := json.Unmarshal(b, &n); nerr != nil {
			return fmt.Errorf("duration: want text like \"2s\" or nanoseconds, got %s", b)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// Limits are the cut-over gate's limits of one migration. A zero field takes the controller's
// default (the flags of `migrate serve`).
type Limits struct {
	// MaxReplicaLag is the highest replica lag at which the gate may open.
	MaxReplicaLag Duration `json:"max_replica_lag,omitempty"`
	// MaxThreadsRunning is the highest Threads_running on the primary.
	MaxThreadsRunning int `json:"max_threads_running,omitempty"`
	// MaxQPSRatio is the highest ratio of the recent query rate to its baseline (1.5 = +50%).
	MaxQPSRatio float64 `json:"max_qps_ratio,omitempty"`
	// MaxBacklog is the highest number of binlog events gh-ost has not applied yet.
	MaxBacklog int64 `json:"max_backlog,omitempty"`
	// MaxTransactionAge is the age beyond which an open transaction blocks the rename.
	MaxTransactionAge Duration `json:"max_transaction_age,omitempty"`
	// Checksum turns the comparison of the original and the ghost table on or off (nil: default).
	Checksum *bool `json:"checksum,omitempty"`
}

// CreateRequest is the body of POST /v1/migrations.
type CreateRequest struct {
	// DDL is one or more schema changes; several tables give several migrations.
	DDL string `json:"ddl"`
	// Cluster names the cluster to run on (serve --config); "" is the controller's first (or only) one.
	Cluster string `json:"cluster,omitempty"`
	// Schema is the default database for unqualified table names.
	Schema string `json:"schema,omitempty"`
	// Overrides are the planner's override flags, e.g. ["--allow-destructive"] (the leading
	// dashes may be left out).
	Overrides      []string `json:"overrides,omitempty"`
	AllowDropTable bool     `json:"allow_drop_table,omitempty"`
	// RebuildMaxRows is the largest table (rows) on which a rebuilding INPLACE change stays
	// native (the planner's option; 0: the controller's default, serve --rebuild-max-rows).
	RebuildMaxRows int64 `json:"rebuild_max_rows,omitempty"`
	// Approval is how the cut-over is approved: "auto", "manual" (the default) or a daily
	// window "HH:MM-HH:MM" in TimeZone.
	Approval string `json:"approval,omitempty"`
	// TimeZone is the IANA zone of an approval window; default: the controller's local zone.
	TimeZone string `json:"time_zone,omitempty"`
	Limits   Limits `json:"limits,omitzero"`
	// OldVersion and NewVersion are the schema versions the participants are told about
	// (default "v1" and "v2").
	OldVersion string `json:"old_version,omitempty"`
	NewVersion string `json:"new_version,omitempty"`
}

// MigrationView is one migration as the API shows it: the store's row (its persisted truth) and,
// while this controller runs it, the live state: progress, throttle decision, gate checklist and
// the participants of its table.
type MigrationView struct {
	store.Migration
	// Live is true while this controller runs the migration (it can be paused, approved, …).
	Live bool `json:"live"`
	// QueuePosition is, for a queued migration, how many of its cluster's queue are ahead of it.
	QueuePosition *int `json:"queue_position,omitempty"`
	// Paused is true while a manual pause holds it back.
	Paused bool `json:"paused,omitempty"`
	// ChunkSize is gh-ost's copy chunk size as last set, while it runs (0: not a gh-ost run).
	ChunkSize int64 `json:"chunk_size,omitempty"`
	// NiceRatio is gh-ost's sleep after each copy chunk, in multiples of the chunk's time, as
	// last set, while a gh-ost run is live (nil otherwise; 0: no sleep).
	NiceRatio *float64 `json:"nice_ratio,omitempty"`
	// Approval is the gate's approval setting ("" for native migrations, which have no gate).
	Approval string             `json:"approval,omitempty"`
	Throttle *throttle.Decision `json:"throttle,omitempty"`
	// Checklist is the gate's latest checklist (nil before the migration reaches the gate).
	Checklist    *cutover.Checklist       `json:"checklist,omitempty"`
	Participants []wire.ParticipantStatus `json:"participants,omitempty"`
	// Interrupted marks an active migration whose controller is gone; Cleanup is the command
	// that ends it and Reason says why it counts as interrupted.
	Interrupted bool   `json:"interrupted,omitempty"`
	Cleanup     string `json:"cleanup,omitempty"`
	Reason      string `json:"reason,omitempty"`
	// Revert is whether a completed gh-ost migration can still be reverted (GET of one
	// migration only; nil in lists and for anything else).
	Revert *runner.RevertWindow `json:"revert,omitempty"`
}

// ListOptions narrow GET /v1/migrations (its query parameters). The zero value lists the
// newest DefaultListLimit migrations of every status.
type ListOptions struct {
	// Status keeps the migrations in any of these statuses ("interrupted" is not a status: an
	// interrupted migration keeps the active status its controller left).
	Status []migration.Status
	// Table is "table" or "schema.table".
	Table string
	// Limit is the most migrations to return, newest first (0: the server's default).
	Limit int
	// Cluster keeps the migrations of this cluster only.
	Cluster string
}

// Query is the options as query parameters.
func (o ListOptions) Query() url.Values {
	q := url.Values{}
	if len(o.Status) > 0 {
		st := make([]string, len(o.Status))
		for i, s := range o.Status {
			st[i] = string(s)
		}
		q.Set("status", strings.Join(st, ","))
	}
	if o.Table != "" {
		q.Set("table", o.Table)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cluster != "" {
		q.Set("cluster", o.Cluster)
	}
	return q
}

// MigrationsResponse is the body of GET /v1/migrations and of a successful POST.
type MigrationsResponse struct {
	Migrations []MigrationView `json:"migrations"`
}

// ParticipantsResponse is the body of GET /v1/participants.
type ParticipantsResponse struct {
	Participants []wire.ParticipantStatus `json:"participants"`
}

// ChunkSizeRequest is the body of POST /v1/migrations/{id}/chunk-size.
type ChunkSizeRequest struct {
	ChunkSize int64 `json:"chunk_size"`
}

// NiceRatioRequest is the body of POST /v1/migrations/{id}/nice-ratio. NiceRatio is required
// (0 is a ratio: no sleep).
type NiceRatioRequest struct {
	NiceRatio *float64 `json:"nice_ratio"`
}

// EventsResponse is the body of GET /v1/migrations/{id}/events: the store's event log after
// the requested id. Next is the id to pass as ?since= to follow the log.
type EventsResponse struct {
	Events []store.Event `json:"events"`
	Next   int64         `json:"next"`
}

// KindChecklist is the kind of a stream event that carries a changed gate checklist; the other
// kinds are the runner's (status, progress, throttle, blocker).
const KindChecklist runner.EventKind = "checklist"

// KindGap is the kind of the stream event that says a resumed stream (Last-Event-ID) lost
// events: read the event log of the migrations followed.
const KindGap runner.EventKind = "gap"

// StreamEvent is one server-sent event of GET /v1/stream: a runner event of a live migration,
// or a changed checklist. Seq grows by one per event of this controller.
type StreamEvent struct {
	Seq int64 `json:"seq"`
	runner.Event
	Checklist *cutover.Checklist `json:"checklist,omitempty"`
}

// ErrorResponse is the body of every error answer: the message, a machine-readable code (one
// of the Code* constants) and, when a plan is blocked by findings (409), the plans with their
// findings; an ambiguous short id (400) lists the ids it matches.
type ErrorResponse struct {
	Error      string          `json:"error"`
	Code       string          `json:"code"`
	Plans      json.RawMessage `json:"plans,omitempty"`
	Candidates []string        `json:"candidates,omitempty"`
}

// Error codes of ErrorResponse.Code. A client branches on these, never on the message.
const (
	CodeBadRequest       = "bad_request"        // 400: a malformed body or query, a bad setting
	CodeRefused          = "refused"            // 400: DDL the planner refuses (unparsable, DML, unknown table)
	CodeAmbiguousID      = "ambiguous_id"       // 400: a short id that matches several migrations
	CodeUnauthorized     = "unauthorized"       // 401: a missing or wrong token, a bad signature
	CodeNotFound         = "not_found"          // 404: no such migration, participant or endpoint
	CodeNoLog            = "no_log"             // 404: the migration has no worker log here
	CodeMethodNotAllowed = "method_not_allowed" // 405: see the Allow header
	CodeBlocked          = "blocked"            // 409: findings block the plan (see plans)
	CodeActiveMigration  = "active_migration"   // 409: the table has an active migration
	CodeNotLive          = "not_live"           // 409: not running in this controller (ended, interrupted, another's)
	CodeNoGate           = "no_gate"            // 409: a native migration has no cut-over to approve
	CodeNotManual        = "not_manual"         // 409: the approval is automatic or a window
	CodeNotRevertible    = "not_revertible"     // 409: nothing kept to revert or resume from
	CodeRefusedByOwner   = "refused_by_owner"   // 409: the controller owning the migration refused the handed-over command
	CodeUnavailable      = "unavailable"        // 503: shutting down, or participants are off
	CodeHandOffTimeout   = "handoff_timeout"    // 504: the owning controller did not carry the command out in time
	CodeInternal         = "internal"           // 500
)

// Health is the body of GET /healthz.
type Health struct {
	Status     string `json:"status"` // "ok"
	Migrations int    `json:"migrations"`
	Owner      string `json:"owner"`
	Version    string `json:"version"`    // the controller's build (migrate version)
	GoVersion  string `json:"go_version"` // the Go toolchain it was built with
}
