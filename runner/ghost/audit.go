package ghost

// The cut-over audit. gh-ost's atomic cut-over is unsound on MariaDB unless the unlock waits for
// the RENAME: after UNLOCK TABLES, a DML that was waiting for the metadata lock on the original
// table can be granted before the blocked RENAME and run against the OLD table. gh-ost has
// already applied everything up to its "AllEventsUpToLockProcessed" marker and then fails to
// apply that event to the ghost table (which the RENAME has just moved; worker log: "Error 1146
// … _t_gho doesn't exist"): the committed write is lost. The rename guard (renameguard.go) closes
// that race; the audit proves it did, and is the last net if it did not: ghostgate reads the
// primary's binlog between a position taken before the cut-over and gh-ost's rename, finds every
// row event on the original table after the last marker (each is a write the new table never
// got), and replays it on the new table, compare-and-set, one transaction per row. A write that
// cannot be replayed safely is reported, never guessed. What it cannot see: a statement on the
// new table that matched no row because that row was lost leaves no row event to compare with.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// ErrAuditFailed means the cut-over happened but ghostgate could not audit it for lost writes
// (binlog unreadable, gh-ost's marker or rename not found): writes may have been lost unnoticed.
var ErrAuditFailed = errors.New("ghost: cut-over audit failed")

// LostWriteOp is the kind of statement a lost write was.
type LostWriteOp string

// Lost write kinds, one per binlog rows event type.
const (
	OpInsert LostWriteOp = "insert"
	OpUpdate LostWriteOp = "update"
	OpDelete LostWriteOp = "delete"
)

// RepairOutcome is what the audit did about one lost write.
type RepairOutcome string

// Repair outcomes.
const (
	// OutcomeRepaired: the write was replayed on the new table.
	OutcomeRepaired RepairOutcome = "repaired"
	// OutcomeAlreadyApplied: the new table already held the write's result (gh-ost managed to apply
	// it before the rename, or a later write converged); nothing was changed.
	OutcomeAlreadyApplied RepairOutcome = "already_applied"
	// OutcomeSuperseded: a later write on the new table (after the rename) deleted the row, so its
	// history, the lost write included, no longer matters; nothing was replayed.
	OutcomeSuperseded RepairOutcome = "superseded"
	// OutcomeConflict: the write was not replayed, Reason says why; the new table was left alone.
	OutcomeConflict RepairOutcome = "conflict"
)

// opNone is the net operation of lost writes that inserted a row and deleted it again.
const opNone LostWriteOp = "none"

// recheckRounds bounds how often conflicts are checked against writes that reached the new table
// while the audit ran (each round reads the binlog written since the previous one).
const recheckRounds = 3

// KeyValue is one column of a row's key, rendered for people.
type KeyValue struct {
	Column string `json:"column"`
	Value  string `json:"value"`
}

// LostWrite is one row written to the original table after gh-ost's last applied point and before
// its rename: a committed write the new table did not get from gh-ost.
type LostWrite struct {
	Schema string      `json:"schema"`
	Table  string      `json:"table"`
	Op     LostWriteOp `json:"op"`
	// Key identifies the row: the before image's key for update and delete, the row's for insert.
	Key []KeyValue `json:"key"`
	// Binlog is "file:position" of the rows event on the primary (for mysqlbinlog --start-position).
	Binlog  string        `json:"binlog"`
	Outcome RepairOutcome `json:"outcome"`
	Reason  string        `json:"reason,omitempty"` // why it is a conflict
}

// Repaired reports whether the new table now reflects the write.
func (l LostWrite) Repaired() bool { return l.Outcome != OutcomeConflict }

func (l LostWrite) String() string {
	keys := make([]string, len(l.Key))
	for i, k := range l.Key {
		keys[i] = k.Column + "=" + k.Value
	}
	s := fmt.Sprintf("%s %s.%s (%s) at %s: %s", l.Op, l.Schema, l.Table, strings.Join(keys, ", "), l.Binlog, l.Outcome)
	if l.Reason != "" {
		s += ": " + l.Reason
	}
	return s
}

// LostWritesError means writes were lost in the cut-over race and could not be repaired: the new
// table lacks them. Writes lists exactly those; Result.CutOverRepairs lists all that were found.
type LostWritesError struct {
	Writes []LostWrite
}

func (e *LostWritesError) Error() string {
	lines := make([]string, len(e.Writes))
	for i, w := range e.Writes {
		lines[i] = "  " + w.String()
	}
	return fmt.Sprintf("ghost: %d write(s) lost in the cut-over race could not be repaired:\n%s",
		len(e.Writes), strings.Join(lines, "\n"))
}

// auditTimeout bounds the binlog read and the repair.
const auditTimeout = 90 * time.Second

// auditTarget is what the audit reads and repairs: the primary, the table and a binlog client id.
type auditTarget struct {
	primary       Endpoint
	serverID      uint32
	schema, table string
	ghost         string // the table renamed into place: the ghost table, or a revert's old table
}

// auditMark is taken before any cut-over can have begun: where to start reading the binlog, and
// the original table's columns in binlog order with its key.
type auditMark struct {
	pos  gomysql.Position
	cols []column
	key  []string
}

// auditServerID is the binlog client id of the audit: derived from the migration like gh-ost's,
// but distinct from it (two clients with one id kick each other off, error 4052).
func auditServerID(s Spec) uint32 {
	id := ServerIDFor(s.MigrationID + "\x00cut-over-audit")
	if id == s.ReplicaServerID {
		id++
	}
	return id
}

func (w *Worker) auditTarget() auditTarget {
	t := auditTarget{primary: w.spec.Primary, serverID: auditServerID(w.spec), schema: w.spec.Schema, table: w.spec.Table,
		ghost: GhostTable(w.spec.Table)}
	if w.spec.Revert {
		t.ghost = w.spec.OldTable // a revert swaps the kept old table back in (go/base/context.go GetGhostTableName)
	}
	return t
}

// markBinlog records the primary's binlog position and the table's columns and key.
func markBinlog(ctx context.Context, db *sql.DB, schema, table string) (auditMark, error) {
	pos, err := masterPosition(ctx, db)
	if err != nil {
		return auditMark{}, err
	}
	cols, err := tableColumns(ctx, db, schema, table)
	if err != nil {
		return auditMark{}, err
	}
	key, err := keyColumns(ctx, db, schema, table)
	if err != nil {
		return auditMark{}, err
	}
	return auditMark{pos: pos, cols: cols, key: key}, nil
}

// masterPosition is SHOW MASTER STATUS: the end of the primary's binlog now.
func masterPosition(ctx context.Context, db *sql.DB) (gomysql.Position, error) {
	rows, err := db.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil {
		return gomysql.Position{}, fmt.Errorf("ghost: show master status: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return gomysql.Position{}, fmt.Errorf("ghost: show master status: %w", err)
		}
		return gomysql.Position{}, errors.New("ghost: the primary has no binary log (log_bin is off): the cut-over cannot be audited")
	}
	cols, err := rows.Columns()
	if err != nil {
		return gomysql.Position{}, fmt.Errorf("ghost: show master status: %w", err)
	}
	// File, Position, then filters (and Executed_Gtid_Set on MySQL): scan what is there.
	dest := make([]any, len(cols))
	var file string
	var pos uint32
	dest[0], dest[1] = &file, &pos
	for i := 2; i < len(dest); i++ {
		dest[i] = new(sql.RawBytes)
	}
	if err := rows.Scan(dest...); err != nil {
		return gomysql.Position{}, fmt.Errorf("ghost: show master status: %w", err)
	}
	return gomysql.Position{Name: file, Pos: pos}, rows.Err()
}

// auditCutOver reads the primary's binlog from the mark to gh-ost's rename of this table, and
// repairs on the new table every write that ran on the old table after gh-ost's last applied
// point. It returns every lost write found; the error is a *LostWritesError when some could not
// be repaired, or wraps ErrAuditFailed when the binlog could not be audited.
func auditCutOver(ctx context.Context, db *sql.DB, t auditTarget, m auditMark) ([]LostWrite, error) {
	ctx, cancel := context.WithTimeout(ctx, auditTimeout)
	defer cancel()
	end, err := masterPosition(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAuditFailed, err)
	}
	lost, later, err := readLostRows(ctx, t, m.pos, end)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAuditFailed, err)
	}
	if len(lost) == 0 {
		return nil, nil
	}
	writes, keys, err := repairLostRows(ctx, t, m, lost, later)
	if err != nil {
		return writes, fmt.Errorf("%w: %w", ErrAuditFailed, err)
	}
	// A conflict may be a write the application made on the new table after `end` (while the
	// audit ran): the row's final state is then that write's. Read on and look.
	for round := 0; round < recheckRounds && hasConflict(writes, keys); round++ {
		next, err := masterPosition(ctx, db)
		if err != nil {
			break
		}
		more, err := readLaterRows(ctx, t, end, next)
		if err != nil {
			break
		}
		end = next
		supersede(writes, keys, more, t, m, db)
	}
	var bad []LostWrite
	for _, w := range writes {
		if !w.Repaired() {
			bad = append(bad, w)
		}
	}
	if len(bad) > 0 {
		return writes, &LostWritesError{Writes: bad}
	}
	return writes, nil
}

// advanceMark moves the audit's start from Start to Ready, so that the audit does not read the
// whole copy's binlog. It is called before Ready closes; it keeps the Start mark unless it can
// prove that no cut-over had begun when the new position was taken: gh-ost renames only under a
// permit (gate.go), so a position read before the first permit was sent precedes any cut-over.
func (w *Worker) advanceMark() {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	pos, err := masterPosition(ctx, w.db)
	if err != nil {
		return // the Start mark stays: a longer read, never a missed write
	}
	if w.permitsSent.Load() > 0 {
		return
	}
	w.mark.pos = pos
}

// hasConflict reports whether a conflict of a known row is left to recheck.
func hasConflict(writes []LostWrite, keys []string) bool {
	for i, w := range writes {
		if w.Outcome == OutcomeConflict && keys[i] != "" {
			return true
		}
	}
	return false
}

// supersede marks as superseded every conflict whose row one of the later rows deleted.
func supersede(writes []LostWrite, keys []string, later []lostRow, t auditTarget, m auditMark, db *sql.DB) {
	if len(later) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	newCols, err := tableColumns(ctx, db, t.schema, t.table)
	if err != nil {
		return
	}
	// Only a delete makes the row's history irrelevant (see repairLostRows).
	written := newRepairPlan(t.schema, t.table, m, newCols).newKeys(newCols, later)
	for i := range writes {
		if writes[i].Outcome == OutcomeConflict && keys[i] != "" && written[keys[i]].deleted {
			writes[i].Outcome, writes[i].Reason = OutcomeSuperseded, ""
		}
	}
}
