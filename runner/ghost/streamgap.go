package ghost

// The stream gap. gh-ost v1.1.10 resumes (Migrate with Resume) and reverts (Revert) by streaming
// the binlog from its checkpoint's coordinates, but it starts the streamer first and registers
// the listener that turns the original table's row events into writes on the ghost table only
// later (go/logic/migrator.go: Revert calls initiateStreaming, then checkAbort, the OnValidated
// hook and initiateServer, then addDMLEventsListener; Migrate with Resume does the same with
// countTableRows in between). The streamer hands every event to the listeners registered at that
// moment (go/logic/streamer.go notifyListeners): events of the original table read in between are
// dropped. Resuming from a checkpoint there is a backlog to read (up to a checkpoint interval of
// writes; for a revert, every write since the cut-over), so the streamer can race through much of
// it before the listener exists: seen here as a revert that lost 120 rows' updates under a busy
// machine (TestRevertThroughTheGate).
//
// ghostgate cannot reorder gh-ost's start-up, so it replays the gap itself, once the listener is
// known to be there (gh-ost calls OnBeforeRowCopy after addDMLEventsListener when it resumes,
// and OnBeforeCutOver after it when it reverts):
//
//  1. LOCK TABLES <ghost> WRITE on the primary: gh-ost's applier can apply nothing more;
//  2. C = the end of the binlog of the server gh-ost streams from: everything gh-ost has applied
//     came from before C;
//  3. every row event of the original table between the checkpoint and C is applied to the ghost
//     table in binlog order, the way gh-ost applies them (insert: REPLACE; update: DELETE the old
//     key, REPLACE the new row; delete: DELETE), over the columns both tables have;
//  4. UNLOCK TABLES: gh-ost applies what it has queued, in order.
//
// After step 3 every row is in its state at C. gh-ost's own stream is complete from the moment
// its listener was added, so for each row it applies afterwards, it also applies that row's later
// events, up to and past C: each row ends in its newest state, whichever events gh-ost dropped.
// Applying an event twice is harmless for the same reason gh-ost's own reconnects rely on: its
// writes carry whole row images (go/logic/streamer.go, "row event application is idempotent").

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/github/gh-ost/go/base"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// gapLockWait bounds the wait for the ghost table's lock (gh-ost's applier holds it per batch).
const gapLockWait = 30 * time.Second

// gapReplay replays the stream gap of a resumed or reverted run (see above).
type gapReplay struct {
	spec Spec
	mc   *base.MigrationContext
	done bool
}

// run replays once; later calls do nothing. It returns an error only when the gap could not be
// replayed: the run must then stop, or it would go on without those writes.
func (g *gapReplay) run(ctx context.Context) error {
	if g.done {
		return nil
	}
	g.done = true
	// One pool on the primary for the whole replay, in UTC like the audit's repair (the binlog's
	// TIMESTAMP values are read as UTC strings).
	db, err := sql.Open("mysql", g.spec.Primary.dsn(g.spec.Schema)+repairDSNParams)
	if err != nil {
		return fmt.Errorf("ghost: stream gap: %w", err)
	}
	defer db.Close()
	// The checkpoint gh-ost started from (it wrote none since: its checkpoint loop starts with the
	// row copy, and a revert runs none). Not mc.InitialStreamerCoords: the streamer moves those.
	from, err := g.checkpoint(ctx, db)
	if err != nil {
		return fmt.Errorf("ghost: stream gap: %w", err)
	}
	start := time.Now()
	n, to, err := g.replay(ctx, db, from)
	if err != nil {
		return fmt.Errorf("ghost: stream gap: %w", err)
	}
	g.mc.Log.Infof("stream gap: replayed %d row event(s) of %s between %s:%d and %s:%d into %s in %s (gh-ost drops the events its streamer reads before its listener is added)",
		n, g.spec.Table, from.Name, from.Pos, to.Name, to.Pos, g.mc.GetGhostTableName(), time.Since(start).Round(time.Millisecond))
	return nil
}

// checkpoint is the binlog position of the table's last checkpoint.
func (g *gapReplay) checkpoint(ctx context.Context, db *sql.DB) (gomysql.Position, error) {
	cp, ok, err := readCheckpoint(ctx, db, g.spec.Schema, g.spec.Table)
	switch {
	case err != nil:
		return gomysql.Position{}, err
	case !ok:
		return gomysql.Position{}, fmt.Errorf("no checkpoint of %s.%s to start from", g.spec.Schema, g.spec.Table)
	}
	file, err := binlogFile(cp.Coords)
	if err != nil {
		return gomysql.Position{}, err
	}
	pos, err := strconv.ParseUint(cp.Coords[len(file)+1:], 10, 32)
	if err != nil {
		return gomysql.Position{}, fmt.Errorf("unreadable binlog coordinates %q", cp.Coords)
	}
	return gomysql.Position{Name: file, Pos: uint32(pos)}, nil
}

func (g *gapReplay) replay(ctx context.Context, db *sql.DB, cp gomysql.Position) (int, gomysql.Position, error) {
	schema, table, ghost := g.spec.Schema, g.spec.Table, g.mc.GetGhostTableName()
	// gh-ost's checkpoint is its streamer's position at that moment, which can be inside a
	// transaction, past the table map its rows events need (go-mysql then fails with "invalid
	// table id"). Start at the beginning of that transaction: replaying its first events again
	// is harmless (whole row images, in order).
	from, err := transactionStart(ctx, auditTarget{primary: g.spec.inspector(), serverID: gapServerID(g.spec)}, cp)
	if err != nil {
		return 0, gomysql.Position{}, err
	}
	srcCols, err := tableColumns(ctx, db, schema, table)
	if err != nil {
		return 0, gomysql.Position{}, err
	}
	key, err := keyColumns(ctx, db, schema, table)
	if err != nil {
		return 0, gomysql.Position{}, err
	}
	dstCols, err := tableColumns(ctx, db, schema, ghost)
	if err != nil {
		return 0, gomysql.Position{}, err
	}
	plan := newRepairPlan(schema, ghost, auditMark{cols: srcCols, key: key}, dstCols)
	if plan.keyMissing != "" {
		return 0, gomysql.Position{}, fmt.Errorf("key column %s of %s is not in %s", plan.keyMissing, table, ghost)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, gomysql.Position{}, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", int(gapLockWait/time.Second))); err != nil {
		return 0, gomysql.Position{}, err
	}
	// 1. gh-ost's applier stops at its next write to the ghost table.
	if _, err := conn.ExecContext(ctx, "LOCK TABLES "+qualified(schema, ghost)+" WRITE"); err != nil {
		return 0, gomysql.Position{}, fmt.Errorf("lock %s: %w", ghost, err)
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "UNLOCK TABLES") }()
	// 2. The end of the binlog gh-ost reads: nothing it applied is later.
	ins, err := sql.Open("mysql", g.spec.inspector().dsn(""))
	if err != nil {
		return 0, gomysql.Position{}, err
	}
	defer ins.Close()
	to, err := masterPosition(ctx, ins)
	if err != nil {
		return 0, gomysql.Position{}, err
	}
	// 3. Every row event of the table since the checkpoint, in order, from the start of the
	// transaction the checkpoint is in (found before the lock, see replay's caller).
	t := auditTarget{primary: g.spec.inspector(), serverID: gapServerID(g.spec), schema: schema, table: table}
	rows, err := readLaterRows(ctx, t, from, to)
	if err != nil {
		return 0, to, err
	}
	for _, r := range rows {
		if err := plan.apply(ctx, conn, r); err != nil {
			return 0, to, fmt.Errorf("apply the %s at %s to %s: %w", r.op, r.binlog, ghost, err)
		}
	}
	// 4. UNLOCK TABLES (deferred).
	return len(rows), to, nil
}

// transactionStart is where the transaction that contains pos begins in pos's binlog file: the
// last MariaDB GTID event (written at the start of every transaction, with or without GTID
// replication) at or before pos; pos itself when none is found before it.
func transactionStart(ctx context.Context, t auditTarget, pos gomysql.Position) (gomysql.Position, error) {
	ctx, cancel := context.WithTimeout(ctx, auditTimeout) // a file is at most max_binlog_size
	defer cancel()
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: t.serverID, Flavor: gomysql.MariaDBFlavor,
		Host: t.primary.Host, Port: uint16(t.primary.Port), User: t.primary.User, Password: t.primary.Password,
		DisableRetrySync: true, Logger: slog.New(slog.DiscardHandler),
	})
	defer syncer.Close()
	stream, err := syncer.StartSync(gomysql.Position{Name: pos.Name, Pos: 4})
	if err != nil {
		return pos, fmt.Errorf("read binlog %s: %w", pos.Name, err)
	}
	start, cur := pos, gomysql.Position{Name: pos.Name, Pos: 4}
	for cur.Compare(pos) < 0 {
		ev, err := stream.GetEvent(ctx)
		if err != nil {
			return pos, fmt.Errorf("read binlog %s up to %d: %w", pos.Name, pos.Pos, err)
		}
		if ev.Header.EventType == replication.MARIADB_GTID_EVENT && ev.Header.LogPos >= ev.Header.EventSize {
			if at := ev.Header.LogPos - ev.Header.EventSize; at <= pos.Pos {
				start = gomysql.Position{Name: pos.Name, Pos: at}
			}
		}
		if next := advance(cur, ev); next.Name == pos.Name {
			cur = next
		}
	}
	return start, nil
}

// gapServerID is the binlog client id of the gap replay: distinct from gh-ost's and the audit's.
func gapServerID(s Spec) uint32 {
	id := ServerIDFor(s.MigrationID + "\x00stream-gap")
	for id == s.ReplicaServerID || id == auditServerID(s) {
		id++
	}
	return id
}

// apply writes one row event to the plan's table the way gh-ost's applier does.
func (p *repairPlan) apply(ctx context.Context, conn *sql.Conn, r lostRow) error {
	if r.problem != "" {
		return errors.New(r.problem)
	}
	before, err := p.bind(r.before)
	if err != nil {
		return err
	}
	after, err := p.bind(r.after)
	if err != nil {
		return err
	}
	if before != nil { // update, delete: the old key goes
		where, args := p.where(before)
		if _, err := conn.ExecContext(ctx, "DELETE FROM "+qualified(p.schema, p.table)+" WHERE "+where, args...); err != nil {
			return err
		}
	}
	if after == nil {
		return nil
	}
	cols := make([]string, len(p.common))
	exprs := make([]string, len(p.common))
	args := make([]any, len(p.common))
	for i, c := range p.common {
		cols[i], exprs[i], args[i] = quoteIdent(c.next.name), after.vals[i].expr(c.next), after.vals[i].arg
	}
	_, err = conn.ExecContext(ctx, "REPLACE INTO "+qualified(p.schema, p.table)+" ("+strings.Join(cols, ", ")+") VALUES ("+strings.Join(exprs, ", ")+")", args...)
	return err
}
