package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// A participant (a service instance taking part in cut-overs) may register, heartbeat and ack
// with any controller of a fleet, while only the owner of a migration runs its gate. The
// participants table shares the registrations and their leases (the expiry is the state
// database's clock, like the migrations' leases, so the controllers' clocks never matter); the
// participant_phases table hands the phases of signal-mode instances to the controller that can
// signal them (the one they registered with, on their host) and carries their acks back to the
// gate that sent them. An ack is taken by the conditional update of the row (acked_at IS NULL)
// and handed to the gate by a second one (seen = 0): it is applied once.

// ErrTooManyParticipants means the fleet holds the most registrations it keeps.
var ErrTooManyParticipants = errors.New("store: too many registered participants")

// ErrPhaseNotPending means an ack answers no phase handed to the instance.
var ErrPhaseNotPending = errors.New("store: no such phase pending for the instance")

// ParticipantRecord is one shared registration.
type ParticipantRecord struct {
	InstanceID string
	// Controller is the id of the controller the instance registered with (ControllerID).
	Controller string
	// Generation tells one registration of the id from the next (a restarted instance).
	Generation int64
	// Registration and Heartbeat are the wire messages, as JSON (Heartbeat: the last one).
	Registration []byte
	Heartbeat    []byte
	RegisteredAt time.Time
	LastBeat     time.Time
	// LeaseLeft is what is left of the lease by the state database's clock (negative: lapsed
	// that long ago). Readers add it to their own clock.
	LeaseLeft time.Duration
}

// PhaseRecord is one phase handed to a signal-mode instance through the state database.
type PhaseRecord struct {
	InstanceID  string
	MigrationID string
	Owner       string // the controller whose gate sent it
	Controller  string // the controller that signals the instance
	Phase       string
	Attempt     int
	Signalled   int    // the last attempt signalled
	Request     []byte // the wire.PhaseRequest, as JSON
	Ack         []byte // the wire.Ack, as JSON; nil until acked
}

// stepParticipants creates the shared registry's tables (see above).
func stepParticipants(ctx context.Context, c *sql.Conn, s *Store) error {
	stmts := []string{
		"CREATE TABLE IF NOT EXISTS " + s.participants + ` (
  instance_id VARCHAR(253) CHARACTER SET ascii NOT NULL,
  controller VARCHAR(255) NOT NULL,
  generation BIGINT NOT NULL,
  registration TEXT NOT NULL,
  heartbeat TEXT NULL,
  registered_at DATETIME(6) NOT NULL,
  last_beat_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  PRIMARY KEY (instance_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
		"CREATE TABLE IF NOT EXISTS " + s.phases + ` (
  instance_id VARCHAR(253) CHARACTER SET ascii NOT NULL,
  migration_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
  owner VARCHAR(255) NOT NULL,
  controller VARCHAR(255) NOT NULL,
  phase VARCHAR(16) CHARACTER SET ascii NOT NULL,
  attempt INT NOT NULL,
  signalled INT NOT NULL DEFAULT 0,
  request TEXT NOT NULL,
  ack TEXT NULL,
  acked_at DATETIME(6) NULL,
  acked_through VARCHAR(255) NULL,
  seen TINYINT NOT NULL DEFAULT 0,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (instance_id, migration_id),
  KEY to_signal (controller, acked_at),
  KEY to_owner (owner, seen)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	}
	for _, q := range stmts {
		if _, err := c.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// ControllerID is this store's controller as the leases and the shared registry name it.
func (s *Store) ControllerID() string { return s.ownerID() }

func micros(d time.Duration) int64 { return d.Microseconds() }

// RegisterParticipant records (or replaces) the registration of rec.InstanceID for this
// controller, with a lease of ttl, and forgets the phases handed to an earlier registration of
// the id. Registrations lapsed for longer than expireAfter are dropped first; a new id is refused
// with ErrTooManyParticipants when max are kept. The count and the insert run under the lock
// of the schema's version row, so that registrations racing on several controllers cannot pass
// the bound together (registrations are rare: heartbeats do not take it).
func (s *Store) RegisterParticipant(ctx context.Context, rec ParticipantRecord, ttl time.Duration, maxN int, expireAfter time.Duration) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var v int
		if err := tx.QueryRowContext(ctx, "SELECT version FROM "+s.versions+" ORDER BY version LIMIT 1 FOR UPDATE").Scan(&v); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+s.participants+
			" WHERE expires_at < UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND", micros(expireAfter)); err != nil {
			return err
		}
		// The phases handed to registrations dropped so (by any controller) go with them.
		if _, err := tx.ExecContext(ctx, "DELETE ph FROM "+s.phases+" ph LEFT JOIN "+s.participants+
			" p ON p.instance_id = ph.instance_id WHERE p.instance_id IS NULL"); err != nil {
			return err
		}
		var n, mine int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(instance_id = ?), 0) FROM "+s.participants,
			rec.InstanceID).Scan(&n, &mine); err != nil {
			return err
		}
		if mine == 0 && n >= maxN {
			return fmt.Errorf("%w: %d registered in the fleet, the most kept", ErrTooManyParticipants, n)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+s.participants+
			" (instance_id, controller, generation, registration, heartbeat, registered_at, last_beat_at, expires_at)"+
			" VALUES (?, ?, ?, ?, NULL, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND)"+
			" ON DUPLICATE KEY UPDATE controller = VALUES(controller), generation = VALUES(generation),"+
			" registration = VALUES(registration), heartbeat = NULL, registered_at = VALUES(registered_at),"+
			" last_beat_at = VALUES(last_beat_at), expires_at = VALUES(expires_at)",
			rec.InstanceID, s.ownerID(), rec.Generation, string(rec.Registration), micros(ttl)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM "+s.phases+" WHERE instance_id = ?", rec.InstanceID)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrTooManyParticipants) {
			return err
		}
		return fmt.Errorf("store: register participant %s: %w", rec.InstanceID, err)
	}
	return nil
}

// BeatParticipant renews the lease of instance id for ttl and keeps its heartbeat; found is
// false when the fleet does not know the id (never registered, evicted, or dropped).
func (s *Store) BeatParticipant(ctx context.Context, id string, heartbeat []byte, ttl time.Duration) (found bool, err error) {
	res, err := s.db.ExecContext(ctx, "UPDATE "+s.participants+" SET last_beat_at = UTC_TIMESTAMP(6),"+
		" expires_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND, heartbeat = ? WHERE instance_id = ?",
		micros(ttl), string(heartbeat), id)
	if err != nil {
		return false, fmt.Errorf("store: heartbeat of participant %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// RemoveParticipant drops the registration of id and its handed phases. With generation > 0
// only that registration is dropped, and with lapsedOnly only when its lease has lapsed (the
// gate's eviction by policy must not drop an instance that heartbeated elsewhere meanwhile).
func (s *Store) RemoveParticipant(ctx context.Context, id string, generation int64, lapsedOnly bool) (bool, error) {
	q := "DELETE FROM " + s.participants + " WHERE instance_id = ?"
	args := []any{id}
	if generation > 0 {
		q += " AND generation = ?"
		args = append(args, generation)
	}
	if lapsedOnly {
		q += " AND expires_at <= UTC_TIMESTAMP(6)"
	}
	var removed bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		removed = true
		_, err = tx.ExecContext(ctx, "DELETE FROM "+s.phases+" WHERE instance_id = ?", id)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: remove participant %s: %w", id, err)
	}
	return removed, nil
}

const participantColumns = "instance_id, controller, generation, registration, heartbeat, registered_at, last_beat_at," +
	" TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at)"

func scanParticipant(r scanner) (ParticipantRecord, error) {
	var p ParticipantRecord
	var reg string
	var hb sql.NullString
	var registered, beat utcTime
	var left int64
	if err := r.Scan(&p.InstanceID, &p.Controller, &p.Generation, &reg, &hb, &registered, &beat, &left); err != nil {
		return ParticipantRecord{}, err
	}
	p.Registration = []byte(reg)
	if hb.Valid {
		p.Heartbeat = []byte(hb.String)
	}
	p.RegisteredAt, p.LastBeat, p.LeaseLeft = registered.Time, beat.Time, time.Duration(left)*time.Microsecond
	return p, nil
}

// Participants lists the fleet's registrations, by instance id, leaving out those lapsed for
// longer than expireAfter (the next registration drops them). One query, bounded by the
// registrations kept.
func (s *Store) Participants(ctx context.Context, expireAfter time.Duration) ([]ParticipantRecord, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+participantColumns+" FROM "+s.participants+
		" WHERE expires_at >= UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND ORDER BY instance_id", micros(expireAfter))
	if err != nil {
		return nil, fmt.Errorf("store: participants: %w", err)
	}
	defer rows.Close()
	var out []ParticipantRecord
	for rows.Next() {
		p, err := scanParticipant(rows)
		if err != nil {
			return nil, fmt.Errorf("store: participants: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Participant returns the registration of id; ok is false when the fleet does not know it.
func (s *Store) Participant(ctx context.Context, id string) (ParticipantRecord, bool, error) {
	p, err := scanParticipant(s.db.QueryRowContext(ctx, "SELECT "+participantColumns+" FROM "+s.participants+" WHERE instance_id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return ParticipantRecord{}, false, nil
	}
	if err != nil {
		return ParticipantRecord{}, false, fmt.Errorf("store: participant %s: %w", id, err)
	}
	return p, true, nil
}
