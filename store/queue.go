package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ghostgate/ghostgate/migration"
)

// The queue: a migration submitted while a limit is in force is recorded `queued`, holding
// neither its table (active is NULL, so any number may wait for one table) nor a lease. A
// controller's scheduler claims the oldest queued migration of a cluster whose table is free
// when fewer than the limit run there (ClaimQueued); the claim makes it active (the unique key
// then keeps it the only one on its table) and gives it a lease, token 1. Claims of one cluster
// are serialized across controllers by a named lock on the state database, so the limit holds
// whichever controller schedules.

// ErrNotQueued means a migration is no longer waiting in the queue (a scheduler claimed it, or
// it ended).
var ErrNotQueued = errors.New("store: migration is not waiting in the queue")

// stepQueue adds what the queue needs: the cluster a migration runs on (the limit is per
// cluster; "" is the controller's only cluster) and the request it was submitted with, which
// the controller that claims it later needs to build its gate.
func stepQueue(ctx context.Context, c *sql.Conn, s *Store) error {
	cols := []struct{ name, def string }{
		{"cluster", "VARCHAR(64) NOT NULL DEFAULT ''"},
		{"request", "MEDIUMTEXT NULL"},
	}
	for _, col := range cols {
		if err := addColumnIfMissing(ctx, c, s, col.name, col.def); err != nil {
			return err
		}
	}
	// One active migration per table *of a cluster*: the same schema.table on two clusters is two
	// tables. The key is rebuilt with the cluster first, once (look before: DDL commits at once).
	var n int
	if err := c.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ?
		AND TABLE_NAME = 'migrations' AND INDEX_NAME = 'one_active_per_table' AND COLUMN_NAME = 'cluster'`, s.opts.Database).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	_, err := c.ExecContext(ctx, "ALTER TABLE "+s.migrations+" DROP INDEX one_active_per_table,"+
		" ADD UNIQUE KEY one_active_per_table (cluster, schema_name, table_name, active)")
	return err
}

// Enqueue records n as a queued migration on cluster, with the request it was submitted with
// (any JSON; may be nil). It holds no table and no lease until a scheduler claims it.
func (s *Store) Enqueue(ctx context.Context, cluster string, n NewMigration, request json.RawMessage) (Migration, error) {
	if err := n.Validate(); err != nil {
		return Migration{}, err
	}
	if len(cluster) > 64 {
		return Migration{}, fmt.Errorf("store: cluster name %q is longer than 64 characters", cluster)
	}
	if len(request) > 0 && !json.Valid(request) {
		return Migration{}, errors.New("store: request is not valid JSON")
	}
	id, err := newID(time.Now())
	if err != nil {
		return Migration{}, err
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO "+s.migrations+` (id, schema_name, table_name, ddl, plan,
			strategy, status, active, created_at, updated_at, owner_host, owner_pid, cluster, request)
			VALUES (?, ?, ?, ?, ?, ?, ?, NULL, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), ?, ?, ?, ?)`,
			id, n.Schema, n.Table, n.DDL, nullString(string(n.Plan)), n.Strategy, string(migration.StatusQueued),
			s.opts.Owner.Host, s.opts.Owner.PID, cluster, nullString(string(request)))
		if err != nil {
			return err
		}
		return s.insertEvent(ctx, tx, id, EventCreated, "queued on "+qualify(n.Schema, n.Table),
			map[string]any{"strategy": n.Strategy, "cluster": cluster, "submitted_through": s.opts.Owner})
	})
	if err != nil {
		return Migration{}, fmt.Errorf("store: enqueue migration on %s: %w", qualify(n.Schema, n.Table), err)
	}
	return s.Get(ctx, id)
}

// Claimed is a queued migration a scheduler claimed, with the request it was submitted with.
type Claimed struct {
	Migration
	Request json.RawMessage
}

// ClaimQueued claims, for this store's controller, the oldest queued migration of cluster whose
// table has no active migration, provided fewer than limit migrations are active on cluster. It
// returns false when there is none to claim (or the limit is reached). The claimed migration is
// active (it holds its table) and leased to this store with token 1; it is still `queued`: the
// runner moves it on.
func (s *Store) ClaimQueued(ctx context.Context, cluster string, limit int) (Claimed, bool, error) {
	// Most calls find nothing: one indexed look before taking the lock.
	var any int
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM (SELECT 1 FROM "+s.migrations+
		" WHERE status = 'queued' AND active IS NULL AND cluster = ? LIMIT 1) q", cluster).Scan(&any)
	if err != nil || any == 0 {
		return Claimed{}, false, wrapErr("store: look at the queue", err)
	}
	c, err := s.db.Conn(ctx)
	if err != nil {
		return Claimed{}, false, fmt.Errorf("store: connect: %w", err)
	}
	defer c.Close()
	sum := sha256.Sum256([]byte(s.opts.Database + "\x00" + cluster))
	lock := "ghostgate_queue_" + hex.EncodeToString(sum[:])[:40]
	var got sql.NullInt64
	if err := c.QueryRowContext(ctx, "SELECT GET_LOCK(?, 5)", lock).Scan(&got); err != nil {
		return Claimed{}, false, fmt.Errorf("store: take the queue lock: %w", err)
	}
	if got.Int64 != 1 {
		return Claimed{}, false, nil // another scheduler is at it; the next round looks again
	}
	defer func() { _, _ = c.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK(?)", lock) }()

	var running int
	if err := c.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+s.migrations+" WHERE active = 1 AND cluster = ?", cluster).
		Scan(&running); err != nil {
		return Claimed{}, false, fmt.Errorf("store: count running migrations: %w", err)
	}
	if running >= limit {
		return Claimed{}, false, nil
	}
	// The oldest queued migration whose table is free (a busy table holds its queue back, not
	// the other tables').
	var id string
	err = c.QueryRowContext(ctx, "SELECT q.id FROM "+s.migrations+" q WHERE q.status = 'queued' AND q.active IS NULL AND q.cluster = ?"+
		" AND NOT EXISTS (SELECT 1 FROM "+s.migrations+" a WHERE a.active = 1 AND a.cluster = q.cluster"+
		" AND a.schema_name = q.schema_name AND a.table_name = q.table_name)"+
		" ORDER BY q.created_at, q.id LIMIT 1", cluster).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Claimed{}, false, nil
	}
	if err != nil {
		return Claimed{}, false, fmt.Errorf("store: pick from the queue: %w", err)
	}
	res, err := c.ExecContext(ctx, "UPDATE "+s.migrations+` SET active = 1, owner_host = ?, owner_pid = ?,
		heartbeat_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6),
		lease_owner = ?, lease_token = lease_token + 1, lease_expires_at = `+leaseExpiry+`
		WHERE id = ? AND status = 'queued' AND active IS NULL`,
		s.opts.Owner.Host, s.opts.Owner.PID, s.ownerID(), s.leaseMicros(), id)
	if isDuplicateKey(err) {
		return Claimed{}, false, nil // its table was taken meanwhile by a migration outside the queue
	}
	if err != nil {
		return Claimed{}, false, fmt.Errorf("store: claim %s from the queue: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return Claimed{}, false, nil // cancelled meanwhile
	}
	var token int64
	var request sql.NullString
	if err := c.QueryRowContext(ctx, "SELECT lease_token, request FROM "+s.migrations+" WHERE id = ?", id).Scan(&token, &request); err != nil {
		return Claimed{}, false, fmt.Errorf("store: read claimed %s: %w", id, err)
	}
	s.hold(id, token)
	if err := s.AddEvent(ctx, id, EventNote, fmt.Sprintf("claimed from the queue by %s (%d of at most %d running on the cluster)",
		s.opts.Owner, running+1, limit), nil); err != nil {
		return Claimed{}, false, err
	}
	m, err := s.Get(ctx, id)
	if err != nil {
		return Claimed{}, false, err
	}
	out := Claimed{Migration: m}
	if request.Valid {
		out.Request = json.RawMessage(request.String)
	}
	return out, true, nil
}

// CancelQueued cancels a migration still waiting in the queue; ErrNotQueued when a scheduler has
// claimed it (cancel it through its owner) or it has ended.
func (s *Store) CancelQueued(ctx context.Context, id, reason string) error {
	guard := func(tx *sql.Tx) error {
		var active sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT active FROM "+s.migrations+" WHERE id = ?", id).Scan(&active); err != nil {
			return err
		}
		if active.Valid {
			return fmt.Errorf("%w: %s was claimed by a controller", ErrNotQueued, id)
		}
		return nil
	}
	err := s.transition(ctx, id, migration.StatusCancelled, reason, "", EventTransition, guard)
	var te *migration.TransitionError
	if errors.As(err, &te) {
		return fmt.Errorf("%w: %s is %s", ErrNotQueued, id, te.From)
	}
	return err
}

// QueuePosition is how many queued migrations of the same cluster were submitted before the
// queued migration id (0: it is next).
func (s *Store) QueuePosition(ctx context.Context, id string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+s.migrations+" q JOIN "+s.migrations+
		" m ON m.id = ? WHERE q.status = 'queued' AND q.active IS NULL AND q.cluster = m.cluster"+
		" AND (q.created_at, q.id) < (m.created_at, m.id)", id).Scan(&n)
	return n, wrapErr("store: queue position of "+id, err)
}

// wrapErr wraps err with what, or returns nil.
func wrapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Requeue puts back in the queue a migration a scheduler claimed whose controller died before
// starting it (still `queued`, its lease expired): it frees its table and its slot, and keeps
// its place in the queue. It refuses (*OwnerAliveError) while the claimant's lease runs.
func (s *Store) Requeue(ctx context.Context, id string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		row, err := s.lockRow(ctx, tx, id)
		if err != nil {
			return err
		}
		if migration.Status(row.status) != migration.StatusQueued || !row.active {
			return fmt.Errorf("%w: %s is %s", ErrNotTakeable, id, row.status)
		}
		from, age, left, err := s.ownerAges(ctx, tx, id)
		if err != nil {
			return err
		}
		if a, stale, _ := s.staleness(from, age, left); !stale {
			return &OwnerAliveError{ID: id, Owner: from, HeartbeatAge: a}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE "+s.migrations+" SET active = NULL, lease_owner = NULL, lease_expires_at = NULL,"+
			" updated_at = UTC_TIMESTAMP(6) WHERE id = ?", id); err != nil {
			return err
		}
		return s.insertEvent(ctx, tx, id, EventNote, "back in the queue: "+from.String()+" claimed it and was gone before starting it", nil)
	})
	return wrapErr("store: requeue "+id, err)
}
