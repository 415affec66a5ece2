package store

import (
	"context"
	"database/sql"
	"fmt"
)

// PostPhase hands a phase to the controller p.Controller for the signal-mode instance
// p.InstanceID, replacing what was handed before for the same migration (another phase or
// attempt). An ack of the same phase that its gate has not taken yet is kept: a re-delivery
// sent while the ack was on its way must not wipe it (the two would chase each other). Any
// other ack is forgotten, as the gate's own delivery forgets it (a "not ready" is asked again).
func (s *Store) PostPhase(ctx context.Context, p PhaseRecord) error {
	// MySQL evaluates the assignments left to right, each seeing the ones before: keep is
	// computed from the columns before any of them changes (phase, seen and acked_at last).
	const keep = "phase = VALUES(phase) AND seen = 0 AND acked_at IS NOT NULL"
	_, err := s.db.ExecContext(ctx, "INSERT INTO "+s.phases+
		" (instance_id, migration_id, owner, controller, phase, attempt, request, updated_at)"+
		" VALUES (?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6))"+
		" ON DUPLICATE KEY UPDATE acked_through = IF("+keep+", acked_through, NULL), ack = IF("+keep+", ack, NULL),"+
		" acked_at = IF("+keep+", acked_at, NULL), owner = VALUES(owner), controller = VALUES(controller),"+
		" phase = VALUES(phase), attempt = VALUES(attempt), request = VALUES(request), seen = 0, updated_at = VALUES(updated_at)",
		p.InstanceID, p.MigrationID, s.ownerID(), p.Controller, p.Phase, p.Attempt, string(p.Request))
	if err != nil {
		return fmt.Errorf("store: hand %s of %s to %s: %w", p.Phase, p.MigrationID, p.InstanceID, err)
	}
	// What the instance answered for other migrations and their gates took is done with: the
	// table keeps about one row per instance, not one per migration it ever took part in.
	if _, err := s.db.ExecContext(ctx, "DELETE FROM "+s.phases+" WHERE instance_id = ? AND migration_id <> ? AND seen = 1",
		p.InstanceID, p.MigrationID); err != nil {
		return fmt.Errorf("store: hand %s of %s to %s: %w", p.Phase, p.MigrationID, p.InstanceID, err)
	}
	return nil
}

const phaseColumns = "instance_id, migration_id, owner, controller, phase, attempt, signalled, request, ack"

func scanPhase(r scanner) (PhaseRecord, error) {
	var p PhaseRecord
	var req string
	var ack sql.NullString
	if err := r.Scan(&p.InstanceID, &p.MigrationID, &p.Owner, &p.Controller, &p.Phase, &p.Attempt, &p.Signalled, &req, &ack); err != nil {
		return PhaseRecord{}, err
	}
	p.Request = []byte(req)
	if ack.Valid {
		p.Ack = []byte(ack.String)
	}
	return p, nil
}

func (s *Store) queryPhases(ctx context.Context, what, q string, args ...any) ([]PhaseRecord, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+phaseColumns+" FROM "+s.phases+" WHERE "+q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []PhaseRecord
	for rows.Next() {
		p, err := scanPhase(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PhasesToSignal lists the unacknowledged phases handed to this controller for the instances
// registered with it. One indexed query.
func (s *Store) PhasesToSignal(ctx context.Context) ([]PhaseRecord, error) {
	return s.queryPhases(ctx, "phases to signal", "controller = ? AND acked_at IS NULL ORDER BY updated_at", s.ownerID())
}

// MarkSignalled records that attempt of the phase handed for (instance, migration) was signalled.
func (s *Store) MarkSignalled(ctx context.Context, instance, migrationID string, attempt int) error {
	_, err := s.db.ExecContext(ctx, "UPDATE "+s.phases+" SET signalled = ? WHERE instance_id = ? AND migration_id = ? AND attempt = ?",
		attempt, instance, migrationID, attempt)
	if err != nil {
		return fmt.Errorf("store: mark signalled: %w", err)
	}
	return nil
}

// PendingPhase returns the oldest unacknowledged phase handed to instance; ok is false when none.
func (s *Store) PendingPhase(ctx context.Context, instance string) (PhaseRecord, bool, error) {
	ps, err := s.queryPhases(ctx, "pending phase", "instance_id = ? AND acked_at IS NULL ORDER BY updated_at LIMIT 1", instance)
	if err != nil || len(ps) == 0 {
		return PhaseRecord{}, false, err
	}
	return ps[0], true, nil
}

// AckPhase records ack (JSON) as instance's answer to the phase of migrationID handed to it.
// An ack of a phase already acknowledged is accepted and changes nothing (applied is false); an
// ack of a phase not handed is ErrPhaseNotPending.
func (s *Store) AckPhase(ctx context.Context, instance, migrationID, phase string, ack []byte) (applied bool, err error) {
	res, err := s.db.ExecContext(ctx, "UPDATE "+s.phases+" SET ack = ?, acked_at = UTC_TIMESTAMP(6), acked_through = ?"+
		" WHERE instance_id = ? AND migration_id = ? AND phase = ? AND acked_at IS NULL",
		string(ack), s.ownerID(), instance, migrationID, phase)
	if err != nil {
		return false, fmt.Errorf("store: ack of %s: %w", instance, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return n == 1, err
	}
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+s.phases+
		" WHERE instance_id = ? AND migration_id = ? AND phase = ? AND acked_at IS NOT NULL", instance, migrationID, phase).Scan(&n); err != nil {
		return false, fmt.Errorf("store: ack of %s: %w", instance, err)
	}
	if n == 0 {
		return false, fmt.Errorf("%w: %s %s to %s", ErrPhaseNotPending, migrationID, phase, instance)
	}
	return false, nil
}

// TakeAcks returns the acks given to the phases this controller handed out and not taken yet,
// and marks them taken: each is returned once, to one call (the conditional update decides).
func (s *Store) TakeAcks(ctx context.Context) ([]PhaseRecord, error) {
	ps, err := s.queryPhases(ctx, "acks", "owner = ? AND seen = 0 AND acked_at IS NOT NULL", s.ownerID())
	if err != nil {
		return nil, err
	}
	var out []PhaseRecord
	for _, p := range ps {
		res, err := s.db.ExecContext(ctx, "UPDATE "+s.phases+" SET seen = 1 WHERE instance_id = ? AND migration_id = ?"+
			" AND owner = ? AND attempt = ? AND seen = 0 AND acked_at IS NOT NULL", p.InstanceID, p.MigrationID, s.ownerID(), p.Attempt)
		if err != nil {
			return out, fmt.Errorf("store: take ack: %w", err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			out = append(out, p)
		}
	}
	return out, nil
}

// MigrationOwner returns the controller (ControllerID) that owns the active migration id and
// whether it is alive (OwnerLive): a gate of that controller may be waiting for the migration.
// An ended, unknown or interrupted migration has no live owner.
func (s *Store) MigrationOwner(ctx context.Context, id string) (string, bool, error) {
	if !validID(id) {
		return "", false, nil
	}
	o, live, err := s.OwnerLive(ctx, id)
	if err != nil || !live {
		return "", false, err
	}
	return o.String(), true, nil
}
