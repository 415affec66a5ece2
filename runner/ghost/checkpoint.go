package ghost

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Resume and revert rest on gh-ost v1.1.10's checkpoints (go/logic/checkpoint.go): every
// CheckpointInterval the worker's gh-ost writes a row to `_<table>_ghk` with the binlog
// coordinates it has applied through (on the server it reads the binlog from) and the copy's
// position; right after a cut-over it writes one more, marked is_cutover. A resumed run reads the
// last row, continues the copy from its range and the binlog from its coordinates; a revert
// replays the writes made since the cut-over's checkpoint into the kept old table and swaps back
// (Migrator.Revert). MariaDB has no usable GTID mode for gh-ost (UseGTIDs fails on gtid_mode),
// so the coordinates are file:position and only valid on the very server that wrote them.

// DefaultCheckpointInterval is how often gh-ost checkpoints (gh-ost's binary refuses < 10 s).
const DefaultCheckpointInterval = 10 * time.Second

// CheckpointTable is the name of gh-ost's checkpoint table for table.
func CheckpointTable(table string) string { return ghostTableName(table, "ghk") }

// Checkpoint is the last checkpoint of a migration, as gh-ost wrote it.
type Checkpoint struct {
	ID           int64
	Time         time.Time
	Coords       string // "file:position" on the server gh-ost reads the binlog from
	RowsCopied   int64
	AfterCutOver bool // written right after the cut-over: what a revert starts from
}

// ErrNotResumable is wrapped by every NotResumableError.
var ErrNotResumable = errors.New("ghost: cannot resume")

// NotResumableError says plainly what blocks a resume (or a revert) and what the choice is.
type NotResumableError struct {
	Schema, Table string
	Reason        string
}

func (e *NotResumableError) Error() string {
	return fmt.Sprintf("ghost: cannot resume the migration of %s.%s: %s", e.Schema, e.Table, e.Reason)
}

// Unwrap makes errors.Is(err, ErrNotResumable) true.
func (e *NotResumableError) Unwrap() error { return ErrNotResumable }

// ResumableError means the worker died but its last checkpoint is usable: the ghost, changelog
// and checkpoint tables were kept, and a run with Spec.Resume continues from Checkpoint.
type ResumableError struct {
	Checkpoint Checkpoint
	Cause      error
}

func (e *ResumableError) Error() string {
	return fmt.Sprintf("%v; resumable from checkpoint %d (%s, %d rows copied, binlog %s)",
		e.Cause, e.Checkpoint.ID, e.Checkpoint.Time.Format(time.RFC3339), e.Checkpoint.RowsCopied, e.Checkpoint.Coords)
}

// Unwrap returns the cause.
func (e *ResumableError) Unwrap() error { return e.Cause }

// readCheckpoint returns the last checkpoint of table; ok is false when there is none (no table
// or no row).
func readCheckpoint(ctx context.Context, db *sql.DB, schema, table string) (Checkpoint, bool, error) {
	exists, err := tableExists(ctx, db, schema, CheckpointTable(table))
	if err != nil || !exists {
		return Checkpoint{}, false, err
	}
	var c Checkpoint
	var ts int64
	err = db.QueryRowContext(ctx, "SELECT gh_ost_chk_id, gh_ost_chk_timestamp, gh_ost_chk_coords, gh_ost_rows_copied, gh_ost_is_cutover FROM "+
		qualified(schema, CheckpointTable(table))+" ORDER BY gh_ost_chk_id DESC LIMIT 1").
		Scan(&c.ID, &ts, &c.Coords, &c.RowsCopied, &c.AfterCutOver)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Checkpoint{}, false, nil
	case err != nil:
		return Checkpoint{}, false, fmt.Errorf("ghost: read checkpoint of %s.%s: %w", schema, table, err)
	}
	c.Time = time.Unix(ts, 0)
	return c, true, nil
}

// binlogFile is the file part of gh-ost's "file:position" coordinates.
func binlogFile(coords string) (string, error) {
	i := strings.LastIndexByte(coords, ':')
	if i <= 0 {
		return "", fmt.Errorf("unreadable binlog coordinates %q", coords)
	}
	if _, err := strconv.ParseUint(coords[i+1:], 10, 64); err != nil {
		return "", fmt.Errorf("unreadable binlog coordinates %q", coords)
	}
	return coords[:i], nil
}

// binlogAvailable checks that the server still has the binlog file the checkpoint points into,
// and returns the oldest file it has.
func binlogAvailable(ctx context.Context, db *sql.DB, file string) (have bool, oldest string, err error) {
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return false, "", fmt.Errorf("ghost: show binary logs: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return false, "", err
	}
	for rows.Next() {
		dest := make([]any, len(cols))
		var name string
		dest[0] = &name
		for i := 1; i < len(dest); i++ {
			dest[i] = new(sql.RawBytes)
		}
		if err := rows.Scan(dest...); err != nil {
			return false, "", err
		}
		if oldest == "" {
			oldest = name
		}
		have = have || name == file
	}
	return have, oldest, rows.Err()
}

// serverID is the server's @@server_id: what tells one server from another on MariaDB.
func serverID(ctx context.Context, db *sql.DB) (uint32, error) {
	var id uint32
	if err := db.QueryRowContext(ctx, "SELECT @@global.server_id").Scan(&id); err != nil {
		return 0, fmt.Errorf("ghost: read server_id: %w", err)
	}
	return id, nil
}

// checkInspector learns the @@server_id of the server gh-ost reads the binlog from and, for a
// resume or a revert, refuses a different one than the run it continues read.
func (w *Worker) checkInspector(ctx context.Context) error {
	s := w.spec
	ins := s.inspector()
	db, err := sql.Open("mysql", ins.dsn(""))
	if err != nil {
		return fmt.Errorf("ghost: open %s: %w", ins.Addr(), err)
	}
	defer db.Close()
	if w.inspID, err = serverID(ctx, db); err != nil {
		return fmt.Errorf("ghost: %s: %w", ins.Addr(), err)
	}
	if (s.Resume || s.Revert) && s.InspectorServerID != 0 && s.InspectorServerID != w.inspID {
		return &NotResumableError{Schema: s.Schema, Table: s.Table, Reason: fmt.Sprintf(
			"gh-ost read the binlog from the server with server_id %d, and %s is server_id %d: checkpoint coordinates "+
				"(file:position; MariaDB has no GTID mode gh-ost can use) are only valid on the server that wrote them; "+
				"read from that server again, or start the migration over", s.InspectorServerID, ins.Addr(), w.inspID)}
	}
	return nil
}

// checkCheckpoint makes sure a resume or revert can work, and says exactly why not: the tables
// it needs, a checkpoint of the right kind, its binlog still on the server, the same table shape.
func (w *Worker) checkCheckpoint(ctx context.Context) error {
	s := w.spec
	refuse := func(format string, args ...any) error {
		return &NotResumableError{Schema: s.Schema, Table: s.Table, Reason: fmt.Sprintf(format, args...)}
	}
	if s.Resume {
		for _, t := range []string{GhostTable(s.Table), ChangelogTable(s.Table)} {
			ok, err := tableExists(ctx, w.db, s.Schema, t)
			if err != nil {
				return err
			}
			if !ok {
				return refuse("the run's table %s is gone (cleaned up?): start over", t)
			}
		}
	}
	cp, ok, err := readCheckpoint(ctx, w.db, s.Schema, s.Table)
	switch {
	case err != nil:
		return err
	case !ok && s.Revert:
		return refuse("no checkpoint of the migration is left (%s was dropped, or checkpoints were off): a revert needs the checkpoint written after the cut-over", CheckpointTable(s.Table))
	case !ok:
		return refuse("no checkpoint was written (the run died within its first %s, or checkpoints were off): start over", s.CheckpointInterval)
	case s.Revert && !cp.AfterCutOver:
		return refuse("the last checkpoint (%d, %s) is from before a cut-over, not after it: nothing to revert", cp.ID, cp.Time.Format(time.RFC3339))
	case s.Resume && cp.AfterCutOver:
		return refuse("the migration had already cut over (checkpoint %d): nothing to resume", cp.ID)
	}
	file, err := binlogFile(cp.Coords)
	if err != nil {
		return refuse("%v", err)
	}
	ins := s.inspector()
	db, err := sql.Open("mysql", ins.dsn(""))
	if err != nil {
		return err
	}
	defer db.Close()
	have, oldest, err := binlogAvailable(ctx, db, file)
	if err != nil {
		return err
	}
	if !have {
		return refuse("the binlogs were purged past the checkpoint: it continues in %s (%s), and %s's oldest binlog is now %s; start over",
			file, cp.Coords, ins.Addr(), oldest)
	}
	if s.Resume {
		ghost, err := tableShape(ctx, w.db, s.Schema, GhostTable(s.Table))
		if err != nil {
			return err
		}
		if ghost != w.expected {
			return refuse("the ghost table %s does not have the shape this change gives the table now (the table or the change differs from the run that wrote the checkpoint): start over",
				GhostTable(s.Table))
		}
	}
	w.resumed = &cp
	return nil
}
