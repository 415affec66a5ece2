package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// EventKind classifies an event of a migration's log. Kinds are data that every front door can
// filter and show; the constants below are the ones ghostgate writes.
type EventKind string

// Event kinds.
const (
	EventCreated        EventKind = "created"
	EventTransition     EventKind = "transition"
	EventThrottle       EventKind = "throttle"        // throttle on/off, with its reason
	EventRetry          EventKind = "retry"           // an engine retried a step
	EventCutOverAttempt EventKind = "cutover_attempt" // one rename attempt and its result
	EventBlocker        EventKind = "blocker"         // a transaction or lock waiter in the way
	EventLeftover       EventKind = "leftover"        // an interrupted run was marked or cleaned
	EventNote           EventKind = "note"            // anything else worth keeping
	// EventRenamedWithoutGate: the table was renamed although the gate never gave a permit. It
	// cannot happen through gh-ost's hooks; if it ever does, the record must say so loudly.
	EventRenamedWithoutGate EventKind = "renamed_without_gate"
	// EventEngine: an engine started; its data says what a resume needs (the binlog's server).
	EventEngine EventKind = "engine"
	// EventTakeOver: a controller took over a migration whose controller was gone, to resume it.
	EventTakeOver EventKind = "takeover"
	// EventTuning: an operator changed a running copy's chunk size or nice ratio; its data is what
	// a resumed run starts from.
	EventTuning EventKind = "tuning"
)

// Valid reports whether k can be stored: lower-case letters and underscores, 1..32 of them, so
// that kinds stay a small vocabulary rather than free text.
func (k EventKind) Valid() bool {
	if len(k) == 0 || len(k) > 32 {
		return false
	}
	for _, c := range k {
		if (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

// Event is one entry of a migration's log. IDs grow in the order events were written.
type Event struct {
	ID          int64           `json:"id"`
	MigrationID string          `json:"migration_id"`
	Time        time.Time       `json:"time"`
	Kind        EventKind       `json:"kind"`
	Message     string          `json:"message"`
	Data        json.RawMessage `json:"data,omitempty"`
}

// AddEvent appends an event to migration id's log; data (may be nil) is stored as JSON. An owner
// whose lease was claimed by another controller since is refused (*FencedError): a stale owner's
// gate decisions and notes must not read as the migration's.
func (s *Store) AddEvent(ctx context.Context, id string, kind EventKind, msg string, data any) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Locking the migration row serializes the events of one migration, so their
		// AUTO_INCREMENT ids are also their commit order: a reader paging with Events(sinceID)
		// never skips an event that committed late with a smaller id.
		row, err := s.lockRow(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.fence(id, row); err != nil {
			return err
		}
		return s.insertEvent(ctx, tx, id, kind, msg, data)
	})
	if err != nil {
		return fmt.Errorf("store: add %s event to %s: %w", kind, id, err)
	}
	return nil
}

// insertEvent writes one event inside tx; the caller holds the migration's row lock.
func (s *Store) insertEvent(ctx context.Context, tx *sql.Tx, id string, kind EventKind, msg string, data any) error {
	if !kind.Valid() {
		return fmt.Errorf("store: invalid event kind %q", kind)
	}
	var js sql.NullString
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("store: encode event data: %w", err)
		}
		js = sql.NullString{String: string(b), Valid: true}
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO "+s.events+" (migration_id, at, kind, message, data) VALUES (?, UTC_TIMESTAMP(6), ?, ?, ?)",
		id, string(kind), msg, js)
	return err
}

// Events returns up to limit events of migration id with an ID above sinceID, oldest first. Pass
// the last ID seen to follow the log. limit <= 0 means 1000.
func (s *Store) Events(ctx context.Context, id string, sinceID int64, limit int) ([]Event, error) {
	if limit <= 0 {
		limit = 1000
	}
	return s.queryEvents(ctx, id, "SELECT id, migration_id, at, kind, message, data FROM "+s.events+
		" WHERE migration_id = ? AND id > ? ORDER BY id LIMIT ?", id, sinceID, limit)
}

// EventsOf returns every event of migration id of one of kinds, oldest first, however long its
// log: what a resume reads back (the engine's server, an operator's tuning, an approval) is a few
// events among a migration's throttle and progress notes, which may number many thousands after
// days of copying.
func (s *Store) EventsOf(ctx context.Context, id string, kinds ...EventKind) ([]Event, error) {
	if len(kinds) == 0 {
		return nil, nil
	}
	args := []any{id}
	for _, k := range kinds {
		args = append(args, string(k))
	}
	return s.queryEvents(ctx, id, "SELECT id, migration_id, at, kind, message, data FROM "+s.events+
		" WHERE migration_id = ? AND kind IN (?"+strings.Repeat(", ?", len(kinds)-1)+") ORDER BY id", args...)
}

func (s *Store) queryEvents(ctx context.Context, id, query string, args ...any) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: events of %s: %w", id, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at utcTime
		var kind string
		var data sql.NullString
		if err := rows.Scan(&e.ID, &e.MigrationID, &at, &kind, &e.Message, &data); err != nil {
			return nil, fmt.Errorf("store: events of %s: %w", id, err)
		}
		e.Time, e.Kind = at.Time, EventKind(kind)
		if data.Valid {
			e.Data = json.RawMessage(data.String)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: events of %s: %w", id, err)
	}
	return out, nil
}
