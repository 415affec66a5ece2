package store

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ghostgate/ghostgate/migration"
)

// CleanupCommand is the ghostgate command that cleans leftovers; it calls Store.Cleanup. Its
// flags are --migration ID for an interrupted migration, --schema S --table T for a table.
const CleanupCommand = "migrate cleanup"

// LeftoverKind says what a leftover is.
type LeftoverKind string

// Leftover kinds.
const (
	// LeftoverStaleMigration is a migration still marked active whose controller is gone.
	LeftoverStaleMigration LeftoverKind = "stale_migration"
	// LeftoverOrphanTable is a gh-ost table (_t_gho, _t_ghc, _t_del) no live migration owns.
	LeftoverOrphanTable LeftoverKind = "orphan_table"
	// LeftoverKeptTable is not a leftover of a dead run: it is the original table gh-ost kept
	// (_t_<time>_del, _t_del) after a cut-over that succeeded, the migration's undo point. It is
	// listed with its age and size, never reported as a leftover, and dropped only by its own
	// name (issue 13: `--table orders` used to drop every undo point at once).
	LeftoverKeptTable LeftoverKind = "kept_table"
)

// Leftover is one remain of a dead or finished run, with the exact remedy. The store never acts
// on it by itself; a user-invoked command calls Cleanup. Leftovers also lists the kept old tables
// of completed migrations (Kept), which are not remains of a dead run but undo points.
type Leftover struct {
	Kind         LeftoverKind     `json:"kind"`
	Schema       string           `json:"schema"`
	Table        string           `json:"table"` // the original table the leftover belongs to
	MigrationID  string           `json:"migration_id,omitempty"`
	Status       migration.Status `json:"status,omitempty"`
	Owner        Owner            `json:"owner,omitzero"`
	HeartbeatAge time.Duration    `json:"heartbeat_age_ns,omitempty"`
	OrphanTable  string           `json:"orphan_table,omitempty"` // the gh-ost table (orphan or kept)
	KeptSince    time.Time        `json:"kept_since,omitzero"`    // kept tables: when gh-ost set it aside
	Rows         int64            `json:"rows,omitempty"`         // tables: the server's row estimate
	Bytes        int64            `json:"bytes,omitempty"`        // tables: data and index size
	Reason       string           `json:"reason"`
	Command      string           `json:"command,omitempty"` // the ghostgate command that cleans it
	SQL          string           `json:"sql,omitempty"`     // the SQL the command runs, if any
	// Strategy is a stale migration's strategy ("ghost", …).
	Strategy string `json:"strategy,omitempty"`
	// Resumable is the checkpoint an interrupted gh-ost migration can resume from, set on the
	// migration and on its ghost and changelog tables ("" when it cannot resume).
	Resumable string `json:"resumable,omitempty"`
}

// OwnerAliveError refuses to mark a migration interrupted while its controller still heartbeats.
type OwnerAliveError struct {
	ID           string
	Owner        Owner
	HeartbeatAge time.Duration
}

// Error implements error.
func (e *OwnerAliveError) Error() string {
	return fmt.Sprintf("store: migration %s is still run by %s (last heartbeat %v ago); cancel it instead",
		e.ID, e.Owner, e.HeartbeatAge.Round(time.Millisecond))
}

// Kept reports whether l is the kept old table of a completed migration rather than a leftover.
func (l Leftover) Kept() bool { return l.Kind == LeftoverKeptTable }

// activeRow is an active migration with its heartbeat age as the server sees it.
type activeRow struct {
	Migration
	age   time.Duration
	stale bool
	why   string
}

// Leftovers finds (a) active migrations whose owner is gone and (b) gh-ost tables in schemas (all
// user schemas when none are given) that no live migration owns. It only reads.
func (s *Store) Leftovers(ctx context.Context, schemas ...string) ([]Leftover, error) {
	actives, err := s.activeRows(ctx)
	if err != nil {
		return nil, err
	}
	var out []Leftover
	live := map[[2]string]bool{}
	staleOn := map[[2]string]string{}
	for _, a := range actives {
		key := [2]string{a.Schema, a.Table}
		if !a.stale {
			live[key] = true
			continue
		}
		staleOn[key] = a.ID
		if len(schemas) == 0 || contains(schemas, a.Schema) {
			out = append(out, staleLeftover(a))
		}
	}
	orphans, err := s.orphanTables(ctx, schemas, live, staleOn)
	if err != nil {
		return nil, err
	}
	out = append(out, orphans...)
	if err := s.markResumable(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

func staleLeftover(a activeRow) Leftover {
	return Leftover{
		Kind: LeftoverStaleMigration, Schema: a.Schema, Table: a.Table, MigrationID: a.ID,
		Status: a.Status, Owner: a.Owner, HeartbeatAge: a.age, Strategy: a.Strategy,
		Reason:  fmt.Sprintf("migration %s is marked %s but %s", a.ID, a.Status, a.why),
		Command: CleanupCommand + " --migration " + a.ID,
	}
}

// activeRows reads every active migration. The heartbeat age is computed by the server so that
// clock skew between controllers and the server cannot make a live owner look dead.
func (s *Store) activeRows(ctx context.Context) ([]activeRow, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+migrationColumns+", "+ageColumns+" FROM "+s.migrations+
		" WHERE active = 1 ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("store: read active migrations: %w", err)
	}
	defer rows.Close()
	var out []activeRow
	for rows.Next() {
		var a activeRow
		var micros, left sql.NullInt64
		m, err := scanMigration(rowWithExtra{rows, []any{&micros, &left}})
		if err != nil {
			return nil, fmt.Errorf("store: read active migrations: %w", err)
		}
		a.Migration = m
		a.age, a.stale, a.why = s.staleness(m.Owner, micros, left)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read active migrations: %w", err)
	}
	return out, nil
}

// rowWithExtra scans the migration columns plus trailing columns.
type rowWithExtra struct {
	r     scanner
	extra []any
}

func (r rowWithExtra) Scan(dest ...any) error { return r.r.Scan(append(dest, r.extra...)...) }

// staleness decides whether an owner is gone: its lease has expired (leftMicros, what is left of
// it, below zero), or, for a row from before leases, its heartbeat is older than StaleAfter (or
// missing); or it ran on this host and its pid no longer exists (no need to wait then).
func (s *Store) staleness(o Owner, ageMicros, leftMicros sql.NullInt64) (time.Duration, bool, string) {
	if !ageMicros.Valid {
		return 0, true, "it has no heartbeat"
	}
	age := time.Duration(ageMicros.Int64) * time.Microsecond
	if o.Host == s.opts.Owner.Host && !pidAlive(o.PID) {
		return age, true, fmt.Sprintf("its controller %s is no longer running", o)
	}
	if leftMicros.Valid {
		left := time.Duration(leftMicros.Int64) * time.Microsecond
		if left >= 0 {
			return age, false, ""
		}
		return age, true, fmt.Sprintf("its controller %s has not sent a heartbeat for %v: its lease expired %v ago",
			o, age.Round(time.Millisecond), (-left).Round(time.Millisecond))
	}
	if age > s.opts.StaleAfter {
		return age, true, fmt.Sprintf("its controller %s has not sent a heartbeat for %v", o, age.Round(time.Second))
	}
	return age, false, ""
}

// ghostTable matches gh-ost's table names: _T_gho (ghost), _T_ghc (changelog), _T_del (the
// original kept after cut-over); with --timestamp-old-table the last is _T_YYYYMMDDhhmmss_del.
var (
	ghostTable = regexp.MustCompile(`^_(.+)_(gho|ghc|del)$`)
	// gh-ost v1.1.10 (go/base/context.go GetOldTableName): _<t>_<YYYYMMDDhhmmss>_del with
	// TimestampOldTable, and "rev_del" instead of "del" for the table a revert set aside.
	timestamped = regexp.MustCompile(`^(.+?)(?:_\d{14})?(?:_rev)?$`)
	keptStamp   = regexp.MustCompile(`_(\d{14})(?:_rev)?_del$`)
	shellSafe   = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// orphanTables lists gh-ost tables whose original table has no live migration.
func (s *Store) orphanTables(ctx context.Context, schemas []string, live map[[2]string]bool, staleOn map[[2]string]string) ([]Leftover, error) {
	q := `SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(TABLE_ROWS, 0), COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0)
		FROM information_schema.TABLES
		WHERE TABLE_TYPE = 'BASE TABLE' AND (TABLE_NAME LIKE '\_%\_gho' OR TABLE_NAME LIKE '\_%\_ghc' OR TABLE_NAME LIKE '\_%\_del')`
	var args []any
	if len(schemas) > 0 {
		q += " AND TABLE_SCHEMA IN (?" + strings.Repeat(", ?", len(schemas)-1) + ")"
		for _, sc := range schemas {
			args = append(args, sc)
		}
	} else {
		q += " AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys', ?)"
		args = append(args, s.opts.Database)
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY TABLE_SCHEMA, TABLE_NAME", args...)
	if err != nil {
		return nil, fmt.Errorf("store: look for gh-ost tables: %w", err)
	}
	var cands []found
	for rows.Next() {
		var f found
		if err := rows.Scan(&f.schema, &f.name, &f.rows, &f.bytes); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: look for gh-ost tables: %w", err)
		}
		// information_schema compares names case-insensitively; gh-ost's suffixes are lower case.
		if m := ghostTable.FindStringSubmatch(f.name); m != nil {
			f.orig, f.kind = m[1], m[2]
			cands = append(cands, f)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: look for gh-ost tables: %w", err)
	}
	var out []Leftover
	for _, f := range cands {
		if live[[2]string{f.schema, f.orig}] {
			continue
		}
		exists, err := s.tableExists(ctx, f.schema, f.orig)
		if err != nil {
			return nil, err
		}
		if t := timestamped.FindStringSubmatch(f.orig); !exists && f.kind == "del" && t != nil && t[1] != f.orig {
			f.orig = t[1]
			if live[[2]string{f.schema, f.orig}] {
				continue
			}
			if exists, err = s.tableExists(ctx, f.schema, f.orig); err != nil {
				return nil, err
			}
		}
		if f.kind == "del" && exists {
			k, err := s.keptLeftover(ctx, f)
			if err != nil {
				return nil, err
			}
			out = append(out, k)
			continue
		}
		l := orphanLeftover(f.schema, f.orig, f.name, f.kind, exists, staleOn[[2]string{f.schema, f.orig}])
		l.Rows, l.Bytes = f.rows, f.bytes
		out = append(out, l)
	}
	return out, nil
}

// found is a table named like one of gh-ost's, with the original it belongs to.
type found struct {
	schema, name, orig, kind string
	rows, bytes              int64
}

// orphanLeftover builds the report and remedy for one orphan table. The remedy only ever names
// the gh-ost table, never the original; when the original is missing, a _del table may hold the
// only copy of the data, so the remedy renames it back instead of dropping it. (A _del table
// whose original exists is a kept table: keptLeftover.)
func orphanLeftover(schema, orig, name, kind string, origExists bool, staleID string) Leftover {
	l := Leftover{Kind: LeftoverOrphanTable, Schema: schema, Table: orig, OrphanTable: name, MigrationID: staleID}
	owner := "no active migration"
	if staleID != "" {
		owner = "interrupted migration " + staleID
	}
	what := map[string]string{"gho": "ghost table", "ghc": "changelog table", "del": "pre-migration copy"}[kind]
	switch {
	case kind == "del" && !origExists:
		l.Reason = fmt.Sprintf("gh-ost %s of %s, and the original is missing: it may be the only copy", what, qualify(schema, orig))
		l.SQL = "RENAME TABLE " + qualify(schema, name) + " TO " + qualify(schema, orig)
	case !origExists:
		l.Reason = fmt.Sprintf("gh-ost %s of %s, which does not exist: inspect it by hand", what, qualify(schema, orig))
		return l
	default:
		l.Reason = fmt.Sprintf("gh-ost %s of %s left by a dead run (%s)", what, qualify(schema, orig), owner)
		l.SQL = "DROP TABLE " + qualify(schema, name)
	}
	l.Command = CleanupCommand + " --schema " + shellQuote(schema) + " --table " + shellQuote(name)
	return l
}

func (s *Store) tableExists(ctx context.Context, schema, table string) (bool, error) {
	var n int
	// BINARY: information_schema compares case-insensitively, table names here are not.
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND BINARY TABLE_NAME = ?`, schema, table).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: look up %s: %w", qualify(schema, table), err)
	}
	return n > 0, nil
}

// MarkInterrupted ends an active migration whose controller is gone: it becomes failed with an
// "interrupted" error and a leftover event. It refuses (*OwnerAliveError) while the owner still
// heartbeats, so it cannot be used to steal a live run; use Transition to cancel one.
func (s *Store) MarkInterrupted(ctx context.Context, id, reason string) error {
	msg := "interrupted: " + reason
	guard := func(tx *sql.Tx) error {
		o, micros, left, err := s.ownerAges(ctx, tx, id)
		if err != nil {
			return err
		}
		if age, stale, _ := s.staleness(o, micros, left); !stale {
			return &OwnerAliveError{ID: id, Owner: o, HeartbeatAge: age}
		}
		return nil
	}
	return s.transition(ctx, id, migration.StatusFailed, msg, msg, EventLeftover, guard)
}

// Cleanup applies the remedy of one leftover that a user chose. It detects leftovers again first
// and acts on the fresh finding, never on the passed value's SQL, so that a stale report (the run
// came back, a table was renamed) cannot make it drop the wrong thing.
func (s *Store) Cleanup(ctx context.Context, l Leftover) error {
	fresh, err := s.Leftovers(ctx, l.Schema)
	if err != nil {
		return err
	}
	for _, f := range fresh {
		switch {
		case l.Kind == LeftoverStaleMigration && f.Kind == l.Kind && f.MigrationID == l.MigrationID:
			return s.MarkInterrupted(ctx, f.MigrationID, f.Reason)
		case (l.Kind == LeftoverOrphanTable || l.Kind == LeftoverKeptTable) && f.Kind == l.Kind && f.OrphanTable == l.OrphanTable:
			return s.cleanTable(ctx, f)
		}
	}
	return fmt.Errorf("%w: %s %s", ErrLeftoverGone, l.Kind, qualify(l.Schema, l.OrphanTable+l.MigrationID))
}

func (s *Store) cleanTable(ctx context.Context, l Leftover) error {
	if l.SQL == "" {
		return fmt.Errorf("store: %s needs manual attention: %s", qualify(l.Schema, l.OrphanTable), l.Reason)
	}
	if _, err := s.db.ExecContext(ctx, l.SQL); err != nil {
		return fmt.Errorf("store: clean %s: %w", qualify(l.Schema, l.OrphanTable), err)
	}
	if l.MigrationID != "" {
		return s.AddEvent(ctx, l.MigrationID, EventLeftover, "cleaned: "+l.SQL, l)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// shellQuote quotes s for a POSIX shell so that a printed command can be pasted as is.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
