package ghost

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// CheckRevert tells, without changing anything, whether a completed migration of schema.table
// can be reverted now from its kept original oldTable: the original is still there, gh-ost's
// checkpoint written right after the cut-over is the table's last, and its binlog is still on the
// server gh-ost read the binlog from (ins, named insAddr; inspectorServerID, when known, must be
// that server's). It returns that checkpoint, or a *NotResumableError saying what closed the
// window. The worker checks the same again when the revert starts (checkCheckpoint). The pools
// are the caller's (the runner's own).
func CheckRevert(ctx context.Context, db, ins *sql.DB, insAddr, schema, table, oldTable string, inspectorServerID uint32) (Checkpoint, error) {
	refuse := func(format string, args ...any) error {
		return &NotResumableError{Schema: schema, Table: table, Reason: fmt.Sprintf(format, args...)}
	}
	if ok, err := tableExists(ctx, db, schema, oldTable); err != nil {
		return Checkpoint{}, err
	} else if !ok {
		return Checkpoint{}, refuse("the kept original %s is gone (dropped, or already swapped back by a revert): there is nothing to swap back", oldTable)
	}
	cp, ok, err := readCheckpoint(ctx, db, schema, table)
	switch {
	case err != nil:
		return Checkpoint{}, err
	case !ok:
		return Checkpoint{}, refuse("no checkpoint of the migration is left (%s was dropped, or checkpoints were off): a revert needs the checkpoint written after the cut-over", CheckpointTable(table))
	case !cp.AfterCutOver:
		return Checkpoint{}, refuse("the last checkpoint (%d, %s) is from before a cut-over, not after it (a later migration of the table?): nothing to revert", cp.ID, cp.Time.Format(time.RFC3339))
	}
	file, err := binlogFile(cp.Coords)
	if err != nil {
		return Checkpoint{}, refuse("%v", err)
	}
	if inspectorServerID != 0 {
		id, err := serverID(ctx, ins)
		if err != nil {
			return Checkpoint{}, err
		}
		if id != inspectorServerID {
			return Checkpoint{}, refuse("gh-ost read the binlog from the server with server_id %d, and %s is server_id %d: the checkpoint's coordinates are only valid there",
				inspectorServerID, insAddr, id)
		}
	}
	have, oldest, err := binlogAvailable(ctx, ins, file)
	if err != nil {
		return Checkpoint{}, err
	}
	if !have {
		return Checkpoint{}, refuse("the binlogs were purged past the cut-over's checkpoint: it continues in %s (%s), and %s's oldest binlog is now %s",
			file, cp.Coords, insAddr, oldest)
	}
	return cp, nil
}
