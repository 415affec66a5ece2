package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ghostgate/ghostgate/migration"
)

// Migration is one row of the migrations table.
type Migration struct {
	ID          string              `json:"id"`
	Schema      string              `json:"schema"`
	Table       string              `json:"table"`
	DDL         string              `json:"ddl"`
	Plan        json.RawMessage     `json:"plan,omitempty"`
	Strategy    string              `json:"strategy"`
	Status      migration.Status    `json:"status"`
	CreatedAt   time.Time           `json:"created_at"`
	UpdatedAt   time.Time           `json:"updated_at"`
	StartedAt   time.Time           `json:"started_at,omitzero"`
	FinishedAt  time.Time           `json:"finished_at,omitzero"`
	Progress    *migration.Progress `json:"progress,omitempty"`
	Error       string              `json:"error,omitempty"`
	Owner       Owner               `json:"owner"`
	HeartbeatAt time.Time           `json:"heartbeat_at,omitzero"`
	// Lease is the owner's claim: who, until when, with which fencing token.
	Lease Lease `json:"lease"`
	// Cluster is the cluster the migration runs on ("": the controller's only one).
	Cluster string `json:"cluster,omitempty"`
}

// NewMigration is what Create needs to record a migration; it starts queued, owned by the store.
type NewMigration struct {
	Schema   string
	Table    string
	DDL      string
	Plan     json.RawMessage // the planner's Plan as JSON; may be empty
	Strategy string          // e.g. "instant", "inplace", "ghost"
	Cluster  string          // the cluster it runs on ("": the only one)
}

// Validate reports the first missing or malformed field.
func (n NewMigration) Validate() error {
	switch {
	case n.Schema == "" || len(n.Schema) > 64:
		return fmt.Errorf("store: schema %q must be 1..64 characters", n.Schema)
	case n.Table == "" || len(n.Table) > 64:
		return fmt.Errorf("store: table %q must be 1..64 characters", n.Table)
	case strings.TrimSpace(n.DDL) == "":
		return errors.New("store: DDL is empty")
	case n.Strategy == "" || len(n.Strategy) > 32:
		return fmt.Errorf("store: strategy %q must be 1..32 characters", n.Strategy)
	case len(n.Plan) > 0 && !json.Valid(n.Plan):
		return errors.New("store: plan is not valid JSON")
	case len(n.Cluster) > 64:
		return fmt.Errorf("store: cluster name %q is longer than 64 characters", n.Cluster)
	}
	return nil
}

// ActiveMigrationError refuses a second active migration on a table; it names the one in the way.
type ActiveMigrationError struct {
	Schema, Table string
	ID            string           // the migration holding the table
	Status        migration.Status // its status
}

// Error implements error.
func (e *ActiveMigrationError) Error() string {
	return fmt.Sprintf("store: %s already has an active migration %s (status %s); wait for it to end or cancel it first",
		qualify(e.Schema, e.Table), e.ID, e.Status)
}

const migrationColumns = `id, schema_name, table_name, ddl, plan, strategy, status, created_at, updated_at,
	started_at, finished_at, progress, error, owner_host, owner_pid, heartbeat_at, lease_owner, lease_token, lease_expires_at, cluster`

// Create records a new queued migration and a "created" event. When the table already has an
// active migration it returns *ActiveMigrationError: the refusal comes from the unique key, so two
// controllers racing for the same table cannot both win.
func (s *Store) Create(ctx context.Context, n NewMigration) (Migration, error) {
	if err := n.Validate(); err != nil {
		return Migration{}, err
	}
	// The holder we collide with may end between our failed insert and our look-up; try again then.
	for attempt := 0; attempt < 3; attempt++ {
		id, err := newID(time.Now())
		if err != nil {
			return Migration{}, err
		}
		err = s.insert(ctx, id, n)
		if err == nil {
			s.hold(id, 1)
			return s.Get(ctx, id)
		}
		if !isDuplicateKey(err) {
			return Migration{}, fmt.Errorf("store: create migration on %s: %w", qualify(n.Schema, n.Table), err)
		}
		holder, found, lerr := s.activeOn(ctx, n.Schema, n.Table)
		if lerr != nil {
			return Migration{}, lerr
		}
		if found {
			return Migration{}, &ActiveMigrationError{Schema: n.Schema, Table: n.Table, ID: holder.ID, Status: holder.Status}
		}
	}
	return Migration{}, fmt.Errorf("store: create migration on %s: table keeps changing hands", qualify(n.Schema, n.Table))
}

func (s *Store) insert(ctx context.Context, id string, n NewMigration) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var plan sql.NullString
		if len(n.Plan) > 0 {
			plan = sql.NullString{String: string(n.Plan), Valid: true}
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO "+s.migrations+` (id, schema_name, table_name, ddl, plan,
			strategy, status, active, created_at, updated_at, owner_host, owner_pid, heartbeat_at,
			lease_owner, lease_token, lease_expires_at, cluster)
			VALUES (?, ?, ?, ?, ?, ?, ?, 1, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), ?, ?, UTC_TIMESTAMP(6), ?, 1, `+leaseExpiry+`, ?)`,
			id, n.Schema, n.Table, n.DDL, plan, n.Strategy, string(migration.StatusQueued),
			s.opts.Owner.Host, s.opts.Owner.PID, s.ownerID(), s.leaseMicros(), n.Cluster)
		if err != nil {
			return err
		}
		return s.insertEvent(ctx, tx, id, EventCreated, "created on "+qualify(n.Schema, n.Table),
			map[string]any{"strategy": n.Strategy, "owner": s.opts.Owner})
	})
}

// activeOn returns the active migration on schema.table, if any.
func (s *Store) activeOn(ctx context.Context, schema, table string) (Migration, bool, error) {
	ms, err := s.List(ctx, Filter{Schema: schema, Table: table, ActiveOnly: true})
	if err != nil || len(ms) == 0 {
		return Migration{}, false, err
	}
	return ms[0], true, nil
}

// Get returns the migration with the given id, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Migration, error) {
	if !validID(id) {
		return Migration{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	row := s.db.QueryRowContext(ctx, "SELECT "+migrationColumns+" FROM "+s.migrations+" WHERE id = ?", id)
	m, err := scanMigration(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Migration{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return Migration{}, fmt.Errorf("store: get %s: %w", id, err)
	}
	return m, nil
}

// Filter narrows List. The zero value lists every migration.
type Filter struct {
	Status     []migration.Status // any of these; empty means all
	ActiveOnly bool               // only migrations that hold their table
	Schema     string             // exact schema, if set
	Table      string             // exact table, if set
	Limit      int                // at most this many (newest first when set); 0 means no limit
	Cluster    string             // exact cluster, if set
}

// List returns the migrations matching f, oldest first (or the newest f.Limit, still oldest first).
func (s *Store) List(ctx context.Context, f Filter) ([]Migration, error) {
	var where []string
	var args []any
	if len(f.Status) > 0 {
		where = append(where, "status IN (?"+strings.Repeat(", ?", len(f.Status)-1)+")")
		for _, st := range f.Status {
			args = append(args, string(st))
		}
	}
	if f.ActiveOnly {
		where = append(where, "active = 1")
	}
	if f.Schema != "" {
		where, args = append(where, "schema_name = ?"), append(args, f.Schema)
	}
	if f.Table != "" {
		where, args = append(where, "table_name = ?"), append(args, f.Table)
	}
	if f.Cluster != "" {
		where, args = append(where, "cluster = ?"), append(args, f.Cluster)
	}
	q := "SELECT " + migrationColumns + " FROM " + s.migrations
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list migrations: %w", err)
	}
	defer rows.Close()
	var out []Migration
	for rows.Next() {
		m, err := scanMigration(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list migrations: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list migrations: %w", err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanMigration(r scanner) (Migration, error) {
	var m Migration
	var plan, progress, errText, ownerHost, leaseOwner sql.NullString
	var ownerPID sql.NullInt64
	var created, updated, started, finished, heartbeat, leaseExpires utcTime
	var status string
	if err := r.Scan(&m.ID, &m.Schema, &m.Table, &m.DDL, &plan, &m.Strategy, &status, &created, &updated,
		&started, &finished, &progress, &errText, &ownerHost, &ownerPID, &heartbeat,
		&leaseOwner, &m.Lease.Token, &leaseExpires, &m.Cluster); err != nil {
		return Migration{}, err
	}
	m.Status = migration.Status(status)
	if plan.Valid {
		m.Plan = json.RawMessage(plan.String)
	}
	if progress.Valid {
		var p migration.Progress
		if err := json.Unmarshal([]byte(progress.String), &p); err != nil {
			return Migration{}, fmt.Errorf("migration %s: decode progress: %w", m.ID, err)
		}
		m.Progress = &p
	}
	m.Error = errText.String
	m.Owner = Owner{Host: ownerHost.String, PID: int(ownerPID.Int64)}
	m.CreatedAt, m.UpdatedAt, m.StartedAt = created.Time, updated.Time, started.Time
	m.FinishedAt, m.HeartbeatAt = finished.Time, heartbeat.Time
	m.Lease.Owner, m.Lease.ExpiresAt = leaseOwner.String, leaseExpires.Time
	return m, nil
}

// Transition moves migration id to status to, recording reason as a "transition" event in the
// same transaction. The row is locked (SELECT … FOR UPDATE) while the move is checked with
// migration.CheckTransition, so two writers cannot both move it from the same status; an illegal
// move returns an error wrapping *migration.TransitionError, and a move by an owner whose lease
// was claimed by another controller since is refused (*FencedError). Callers act only after it
// returns nil.
func (s *Store) Transition(ctx context.Context, id string, to migration.Status, reason string) error {
	return s.transition(ctx, id, to, reason, "", EventTransition, nil)
}

// Fail moves migration id to failed and records cause as its error.
func (s *Store) Fail(ctx context.Context, id string, cause error) error {
	msg := "unknown error"
	if cause != nil {
		msg = cause.Error()
	}
	return s.transition(ctx, id, migration.StatusFailed, msg, msg, EventTransition, nil)
}

// transition is Transition with an error text, an event kind and an optional guard that runs
// under the row lock before the move.
func (s *Store) transition(ctx context.Context, id string, to migration.Status, reason, errText string,
	kind EventKind, guard func(*sql.Tx) error) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		row, err := s.lockRow(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.fence(id, row); err != nil {
			return err
		}
		from := migration.Status(row.status)
		if err := migration.CheckTransition(from, to); err != nil {
			return err
		}
		if guard != nil {
			if err := guard(tx); err != nil {
				return err
			}
		}
		// started_at is the first time the migration ran; finished_at and active=NULL mark the
		// end, which frees the table for the next migration (see one_active_per_table).
		_, err = tx.ExecContext(ctx, "UPDATE "+s.migrations+` SET status = ?, updated_at = UTC_TIMESTAMP(6),
			started_at = IF(? AND started_at IS NULL, UTC_TIMESTAMP(6), started_at),
			finished_at = IF(?, UTC_TIMESTAMP(6), NULL),
			active = IF(?, NULL, 1),
			error = COALESCE(?, error)
			WHERE id = ?`,
			string(to), to == migration.StatusRunning, to.Terminal(), to.Terminal(), nullString(errText), id)
		if err != nil {
			return err
		}
		return s.insertEvent(ctx, tx, id, kind, reason, map[string]string{"from": string(from), "to": string(to)})
	})
	if err != nil {
		return fmt.Errorf("store: transition %s to %s: %w", id, to, err)
	}
	if to.Terminal() {
		s.release(id) // nothing left to fence: the row is no longer active
	}
	return nil
}

// SaveProgress stores p as the migration's last progress. It does not change the status: a
// progress event reports on a run, the lifecycle moves only through Transition.
func (s *Store) SaveProgress(ctx context.Context, id string, p migration.Progress) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("store: encode progress: %w", err)
	}
	return s.updateRow(ctx, id, "progress = ?, updated_at = UTC_TIMESTAMP(6)", false, string(b))
}

// Heartbeat tells the store this controller still runs migration id and renews its lease for
// LeaseDuration from now (the database's now). It fails with *FencedError when another
// controller has claimed the migration since, ErrNotOwner when this store never claimed it and
// another controller owns it, and ErrNotActive once it has ended. The caller's lease is safe
// until LeaseDuration after it sent a Heartbeat that succeeded, by its own clock.
func (s *Store) Heartbeat(ctx context.Context, id string) error {
	return s.updateRow(ctx, id, "heartbeat_at = UTC_TIMESTAMP(6), lease_expires_at = "+leaseExpiry, true, s.leaseMicros())
}

// updateRow updates one migration row under its row lock, fenced (see fence); when owned it also
// requires the row to be active and claimed by this store (or, for a row from before leases,
// recorded with this store's owner).
func (s *Store) updateRow(ctx context.Context, id, set string, owned bool, args ...any) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		row, err := s.lockRow(ctx, tx, id)
		if err != nil {
			return err
		}
		if owned && !row.active {
			return fmt.Errorf("%w: %s", ErrNotActive, id)
		}
		if err := s.fence(id, row); err != nil {
			return err
		}
		if _, held := s.Held(id); owned && !held && row.leaseOwner != s.ownerID() {
			return fmt.Errorf("%w: %s is run by %s", ErrNotOwner, id, row.leaseOwner)
		}
		_, err = tx.ExecContext(ctx, "UPDATE "+s.migrations+" SET "+set+" WHERE id = ?", append(args, id)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: update %s: %w", id, err)
	}
	return nil
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
