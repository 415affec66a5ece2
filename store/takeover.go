package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ghostgate/ghostgate/migration"
)

// ErrNotTakeable means a migration cannot be taken over: it has ended, or it was cutting over
// when its controller died (whether the rename happened is for a person to check first).
var ErrNotTakeable = errors.New("store: migration cannot be taken over")

// TakeOver claims an active migration whose controller is gone for this store's owner, so that
// it can be resumed: under the row lock, the lease gets this owner, a fresh expiry and the next
// fencing token (so that every later write of the old owner is refused), and an event says who
// took it from whom and why. It refuses (*OwnerAliveError) while the owner's lease runs, so a
// live run is never taken, and (ErrNotTakeable) a migration that is not running or waiting at
// the gate. Two controllers racing for one migration serialize on the row lock: the second
// finds a live lease, the first one's.
func (s *Store) TakeOver(ctx context.Context, id string) (Migration, error) {
	var token int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		row, err := s.lockRow(ctx, tx, id)
		if err != nil {
			return err
		}
		if st := migration.Status(row.status); st != migration.StatusRunning && st != migration.StatusReady {
			return fmt.Errorf("%w: %s is %s", ErrNotTakeable, id, st)
		}
		from, age, left, err := s.ownerAges(ctx, tx, id)
		if err != nil {
			return err
		}
		age2, stale, why := s.staleness(from, age, left)
		if !stale {
			return &OwnerAliveError{ID: id, Owner: from, HeartbeatAge: age2}
		}
		token = row.token + 1
		if _, err := tx.ExecContext(ctx, "UPDATE "+s.migrations+` SET owner_host = ?, owner_pid = ?,
			heartbeat_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6),
			lease_owner = ?, lease_token = ?, lease_expires_at = `+leaseExpiry+` WHERE id = ?`,
			s.opts.Owner.Host, s.opts.Owner.PID, s.ownerID(), token, s.leaseMicros(), id); err != nil {
			return err
		}
		return s.insertEvent(ctx, tx, id, EventTakeOver,
			fmt.Sprintf("taken over by %s to resume (lease token %d): %s", s.opts.Owner, token, why),
			map[string]any{"from": from.String(), "to": s.opts.Owner.String(), "token": token})
	})
	if err != nil {
		return Migration{}, fmt.Errorf("store: take over %s: %w", id, err)
	}
	s.hold(id, token)
	return s.Get(ctx, id)
}

// ownerAges reads, inside tx, a migration's recorded owner, its heartbeat's age and what is left
// of its lease, both computed by the database (NULL when there is none).
func (s *Store) ownerAges(ctx context.Context, tx *sql.Tx, id string) (Owner, sql.NullInt64, sql.NullInt64, error) {
	var host sql.NullString
	var pid, age, left sql.NullInt64
	err := tx.QueryRowContext(ctx, "SELECT owner_host, owner_pid, "+ageColumns+" FROM "+s.migrations+" WHERE id = ?", id).
		Scan(&host, &pid, &age, &left)
	return Owner{Host: host.String, PID: int(pid.Int64)}, age, left, err
}

// ageColumns are the heartbeat's age and the lease's remaining time in microseconds, computed by
// the database so that clock skew between controllers cannot make a live owner look dead.
const ageColumns = "TIMESTAMPDIFF(MICROSECOND, heartbeat_at, UTC_TIMESTAMP(6)), TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), lease_expires_at)"
