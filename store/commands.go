package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Several controllers share one state database; a command for a migration (pause, approve,
// cancel, …) can reach any of them, but only the owner's run can act on it. The controller that
// receives it writes it to the commands table; the owner polls for the pending commands of the
// migrations it runs, claims each with a conditional UPDATE (consumed_at IS NULL, under the
// migration's fenced row lock) and records the outcome; the receiver waits for that outcome.
// The conditional claim is what makes a command run at most once, even when two controllers
// believe they own the migration: the fenced one's claim is refused.

// ErrCommandGone means a command id names no command.
var ErrCommandGone = errors.New("store: command not found")

// Command is one row of the commands table: a request for the owner of a migration.
type Command struct {
	ID          int64           `json:"id"`
	MigrationID string          `json:"migration_id"`
	Op          string          `json:"op"`
	Args        json.RawMessage `json:"args,omitempty"`
	By          string          `json:"by"`   // who asked (the API token's name)
	From        string          `json:"from"` // the controller that received it
	CreatedAt   time.Time       `json:"created_at"`
	ConsumedBy  string          `json:"consumed_by,omitempty"`
	ConsumedAt  time.Time       `json:"consumed_at,omitzero"`
	DoneAt      time.Time       `json:"done_at,omitzero"`
	Error       string          `json:"error,omitempty"` // the outcome: "" for success once DoneAt is set
}

// Done reports whether the owner has carried the command out (successfully or not).
func (c Command) Done() bool { return !c.DoneAt.IsZero() }

// stepCommands creates the commands table (see above).
func stepCommands(ctx context.Context, c *sql.Conn, s *Store) error {
	_, err := c.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+s.commands+` (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  migration_id CHAR(26) CHARACTER SET ascii NOT NULL,
  op VARCHAR(32) CHARACTER SET ascii NOT NULL,
  args TEXT NULL,
  requested_by VARCHAR(255) NOT NULL,
  from_controller VARCHAR(255) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  consumed_by VARCHAR(255) NULL,
  consumed_at DATETIME(6) NULL,
  done_at DATETIME(6) NULL,
  error TEXT NULL,
  PRIMARY KEY (id),
  KEY pending (migration_id, consumed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`)
	return err
}

// SubmitCommand records a command for the owner of migration id and returns its id.
func (s *Store) SubmitCommand(ctx context.Context, id, op string, args any, by string) (int64, error) {
	if !validID(id) {
		return 0, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	var js sql.NullString
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return 0, fmt.Errorf("store: encode command: %w", err)
		}
		js = sql.NullString{String: string(b), Valid: true}
	}
	res, err := s.db.ExecContext(ctx, "INSERT INTO "+s.commands+
		" (migration_id, op, args, requested_by, from_controller, created_at) VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(6))",
		id, op, js, by, s.ownerID())
	if err != nil {
		return 0, fmt.Errorf("store: submit %s for %s: %w", op, id, err)
	}
	return res.LastInsertId()
}

const commandColumns = "id, migration_id, op, args, requested_by, from_controller, created_at, consumed_by, consumed_at, done_at, error"

func scanCommand(r scanner) (Command, error) {
	var c Command
	var args, consumedBy, errText sql.NullString
	var created, consumed, done utcTime
	if err := r.Scan(&c.ID, &c.MigrationID, &c.Op, &args, &c.By, &c.From, &created, &consumedBy, &consumed, &done, &errText); err != nil {
		return Command{}, err
	}
	if args.Valid {
		c.Args = json.RawMessage(args.String)
	}
	c.ConsumedBy, c.Error = consumedBy.String, errText.String
	c.CreatedAt, c.ConsumedAt, c.DoneAt = created.Time, consumed.Time, done.Time
	return c, nil
}

// Command returns command cmd.
func (s *Store) Command(ctx context.Context, cmd int64) (Command, error) {
	c, err := scanCommand(s.db.QueryRowContext(ctx, "SELECT "+commandColumns+" FROM "+s.commands+" WHERE id = ?", cmd))
	if errors.Is(err, sql.ErrNoRows) {
		return Command{}, fmt.Errorf("%w: %d", ErrCommandGone, cmd)
	}
	if err != nil {
		return Command{}, fmt.Errorf("store: command %d: %w", cmd, err)
	}
	return c, nil
}

// PendingCommands lists the unclaimed commands of the migrations ids, oldest first. It is one
// indexed query; a controller that runs nothing does not ask.
func (s *Store) PendingCommands(ctx context.Context, ids []string) ([]Command, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+commandColumns+" FROM "+s.commands+
		" WHERE migration_id IN (?"+strings.Repeat(", ?", len(ids)-1)+") AND consumed_at IS NULL ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("store: pending commands: %w", err)
	}
	defer rows.Close()
	var out []Command
	for rows.Next() {
		c, err := scanCommand(rows)
		if err != nil {
			return nil, fmt.Errorf("store: pending commands: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ClaimCommand claims command cmd of migration id for this store's controller, to carry it out.
// It returns false when another controller claimed it first; it is refused (*FencedError) when
// this store's lease on the migration was claimed by another controller since.
func (s *Store) ClaimCommand(ctx context.Context, id string, cmd int64) (bool, error) {
	var claimed bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		row, err := s.lockRow(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.fence(id, row); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "UPDATE "+s.commands+
			" SET consumed_by = ?, consumed_at = UTC_TIMESTAMP(6) WHERE id = ? AND migration_id = ? AND consumed_at IS NULL",
			s.ownerID(), cmd, id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		claimed = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: claim command %d: %w", cmd, err)
	}
	return claimed, nil
}

// FinishCommand records the outcome of a command this controller claimed (nil: success).
func (s *Store) FinishCommand(ctx context.Context, cmd int64, outcome error) error {
	var msg sql.NullString
	if outcome != nil {
		msg = sql.NullString{String: outcome.Error(), Valid: true}
	}
	_, err := s.db.ExecContext(ctx, "UPDATE "+s.commands+" SET done_at = UTC_TIMESTAMP(6), error = ? WHERE id = ? AND consumed_by = ?",
		msg, cmd, s.ownerID())
	if err != nil {
		return fmt.Errorf("store: finish command %d: %w", cmd, err)
	}
	return nil
}

// Stale lists the active migrations whose owner is gone (its lease expired, or its process on
// this host no longer runs): what a controller may take over. One query on the migrations.
func (s *Store) Stale(ctx context.Context) ([]Migration, error) {
	actives, err := s.activeRows(ctx)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, a := range actives {
		if a.stale {
			out = append(out, a.Migration)
		}
	}
	return out, nil
}

// OwnerLive reports whether the active migration id has an owner whose lease still runs (or, for
// a row from before leases, a fresh heartbeat), and who it is.
func (s *Store) OwnerLive(ctx context.Context, id string) (Owner, bool, error) {
	var host sql.NullString
	var pid, age, left sql.NullInt64
	err := s.db.QueryRowContext(ctx, "SELECT owner_host, owner_pid, "+ageColumns+" FROM "+s.migrations+" WHERE id = ? AND active = 1", id).
		Scan(&host, &pid, &age, &left)
	if errors.Is(err, sql.ErrNoRows) {
		return Owner{}, false, nil
	}
	if err != nil {
		return Owner{}, false, fmt.Errorf("store: owner of %s: %w", id, err)
	}
	o := Owner{Host: host.String, PID: int(pid.Int64)}
	_, stale, _ := s.staleness(o, age, left)
	return o, !stale, nil
}
