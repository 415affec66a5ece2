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

// TakeOver makes this store's owner the owner of an active migration whose controller is gone,
// so that it can be resumed: owner and heartbeat are rewritten under the row lock, and an event
// says who took it from whom and why. It refuses (*OwnerAliveError) while the owner still
// heartbeats, so a live run is never taken, and (ErrNotTakeable) a migration that is not
// running or waiting at the gate.
func (s *Store) TakeOver(ctx context.Context, id string) (Migration, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		st, err := s.lockStatus(ctx, tx, id)
		if err != nil {
			return err
		}
		if st != migration.StatusRunning && st != migration.StatusReady {
			return fmt.Errorf("%w: %s is %s", ErrNotTakeable, id, st)
		}
		var host sql.NullString
		var pid, micros sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT owner_host, owner_pid, TIMESTAMPDIFF(MICROSECOND, heartbeat_at, UTC_TIMESTAMP(6)) FROM "+
			s.migrations+" WHERE id = ?", id).Scan(&host, &pid, &micros); err != nil {
			return err
		}
		from := Owner{Host: host.String, PID: int(pid.Int64)}
		age, stale, why := s.staleness(from, micros)
		if !stale {
			return &OwnerAliveError{ID: id, Owner: from, HeartbeatAge: age}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE "+s.migrations+` SET owner_host = ?, owner_pid = ?,
			heartbeat_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6) WHERE id = ?`,
			s.opts.Owner.Host, s.opts.Owner.PID, id); err != nil {
			return err
		}
		return s.insertEvent(ctx, tx, id, EventTakeOver,
			fmt.Sprintf("taken over by %s to resume: %s", s.opts.Owner, why),
			map[string]string{"from": from.String(), "to": s.opts.Owner.String()})
	})
	if err != nil {
		return Migration{}, fmt.Errorf("store: take over %s: %w", id, err)
	}
	return s.Get(ctx, id)
}
