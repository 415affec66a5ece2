package ghost

// The rename guard closes gh-ost's cut-over race on MariaDB without performance_schema.
//
// gh-ost's atomic cut-over (go/logic/applier.go AtomicCutOverMagicLock, AtomicCutoverRename):
// session A holds LOCK TABLES t WRITE, _t_del WRITE; session B issues RENAME TABLE t TO _t_del,
// _t_gho TO t, which blocks; A drops _t_del and runs UNLOCK TABLES. The RENAME takes its metadata
// locks one by one in name order (MariaDB sql/mdl.cc MDL_context::acquire_locks sorts the
// requests), and "_t_del" and "_t_gho" sort before "t" ('_' is 0x5F, 't' 0x74): until A's DROP
// frees _t_del, B waits there and is not yet in t's queue. If A unlocks before B has reached t,
// a DML waiting on t is granted first, runs against the original table and is renamed away with
// it: a committed write the new table never gets. gh-ost PR #1536 waits for B to be PENDING on t
// in performance_schema.metadata_locks, which needs performance_schema=ON, and after 100 tries it
// unlocks anyway.
//
// The guard needs neither. It runs in the worker's dialer just before the UNLOCK is written
// (compat.go) and, while t is still locked, asks the server a question only a lock holder can
// answer: is the last of the RENAME's names that sorts before t held exclusively (a lock-free
// read of its definition, see exclusivelyHeld)? Nobody but the RENAME can hold it (the DROP has freed
// _t_del, gh-ost's applier is done with _t_gho), so the RENAME's thread has run past its wait for
// _t_del. When, after that, the processlist shows the thread "Waiting for table metadata lock"
// again, it waits for the one lock it lacks, t's: the server puts a ticket in the lock's queue
// before it enters the wait state (sql/mdl.cc acquire_lock, MDL_wait::timed_wait), and a pending
// exclusive lock is granted before the waiting DMLs when A unlocks. If that is not
// seen within guardBound, the RENAME is killed while t is still locked: the attempt fails, the
// original table is unchanged and gh-ost's retry asks the gate again. Verified on MariaDB 10.11:
// before the DROP the probe of _t_gho succeeds, after it the probe fails with 1205 while the
// RENAME shows "Waiting for table metadata lock".

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/github/gh-ost/go/base"
	"github.com/go-sql-driver/mysql"
)

const (
	// guardBound is how long the guard waits, tables locked, for the RENAME to reach the original
	// table. The RENAME gets there within a millisecond of the DROP on an idle server; the bound
	// only matters when something is wrong, and then the attempt is abandoned, not risked.
	guardBound = time.Second
	// guardPoll is the pause between probes.
	guardPoll = time.Millisecond
	// errLockWaitTimeout is ER_LOCK_WAIT_TIMEOUT; errNoSuchTable is ER_NO_SUCH_TABLE.
	errLockWaitTimeout = 1205
	errNoSuchTable     = 1146
	// renamePrefix is how gh-ost's cut-over RENAME starts (AtomicCutoverRename).
	renamePrefix = "rename /* gh-ost */ table "
	// mdlWaitState is the processlist state of a session waiting for a metadata lock.
	mdlWaitState = "Waiting for table metadata lock"
)

// GuardStats counts what the rename guard did over a run.
type GuardStats struct {
	// Held counts unlocks held until the RENAME was first in line for the original table.
	Held int `json:"held,omitempty"`
	// Killed counts RENAMEs killed because that could not be seen in time (each a failed,
	// retried cut-over attempt, the original table untouched).
	Killed int `json:"killed,omitempty"`
	// NoRename counts unlocks with no RENAME of this table waiting (a cut-over attempt that
	// ended before its rename): nothing to order.
	NoRename int `json:"no_rename,omitempty"`
	// MaxWait is the longest the guard held an unlock (the tables locked meanwhile).
	MaxWait time.Duration `json:"max_wait_ns,omitempty"`
}

// renameGuard holds gh-ost's UNLOCK TABLES until the RENAME is first in line (see above).
type renameGuard struct {
	db  *sql.DB // its own small pool on the primary
	mc  *base.MigrationContext
	log base.Logger

	held, killed, noRename atomic.Int64
	maxWait                atomic.Int64 // nanoseconds
}

// attach gives the guard its pool and gh-ost's context. It must be called before gh-ost starts:
// the dialer calls beforeUnlock from gh-ost's goroutines.
func (g *renameGuard) attach(db *sql.DB, mc *base.MigrationContext) {
	g.db, g.mc, g.log = db, mc, mc.Log
}

func (g *renameGuard) stats() GuardStats {
	return GuardStats{Held: int(g.held.Load()), Killed: int(g.killed.Load()), NoRename: int(g.noRename.Load()),
		MaxWait: time.Duration(g.maxWait.Load())}
}

// beforeUnlock runs on gh-ost's lock goroutine, the tables still locked. It never fails: at
// worst it kills the RENAME, which gh-ost treats as a failed attempt.
func (g *renameGuard) beforeUnlock() {
	if g.mc == nil {
		return // not attached: a test's dialer
	}
	ctx, cancel := context.WithTimeout(context.Background(), guardBound)
	defer cancel()
	// gh-ost's names, read on its own goroutine after it set them (GetOldTableName reads StartTime).
	schema, table := g.mc.DatabaseName, g.mc.OriginalTableName
	ghost, old := g.mc.GetGhostTableName(), g.mc.GetOldTableName()
	start := time.Now()
	defer func() {
		for d := int64(time.Since(start)); ; {
			m := g.maxWait.Load()
			if d <= m || g.maxWait.CompareAndSwap(m, d) {
				return
			}
		}
	}()
	id, err := g.findRename(ctx, schema, table, ghost)
	found := time.Since(start)
	if err != nil {
		g.log.Warningf("rename guard: %v; the RENAME cannot be checked, so it is stopped", err)
		g.killAnyRename(schema, table, ghost)
		return
	}
	if id == 0 {
		g.noRename.Add(1)
		g.log.Infof("rename guard: no RENAME of %s waiting; unlocking", table)
		return
	}
	probe, ok := lastBefore(table, old, ghost)
	if !ok {
		// Both names sort after the table: the RENAME queued on it first, from the start.
		g.held.Add(1)
		g.log.Infof("rename guard: RENAME (session %d) queued on %s first; unlocking", id, table)
		return
	}
	seen := "no answer yet"
	for i := 0; ; i++ {
		held, err := g.exclusivelyHeld(ctx, schema, probe)
		if err == nil && !held {
			seen = fmt.Sprintf("%s not held by the RENAME", probe)
		}
		if err == nil && held {
			held, err = g.waiting(ctx, id)
			if err == nil && !held {
				seen = fmt.Sprintf("%s held, the RENAME not waiting", probe)
			}
		}
		if err == nil && held {
			g.held.Add(1)
			g.log.Infof("rename guard: RENAME (session %d) holds %s and waits for %s, first in line, after %s (found in %s, %d probe(s)); unlocking",
				id, probe, table, time.Since(start).Round(time.Microsecond), found.Round(time.Microsecond), i+1)
			return
		}
		if i%16 == 15 { // now and then: has the RENAME gone (failed, timed out)?
			if again, ferr := g.findRename(ctx, schema, table, ghost); ferr == nil && again == 0 {
				g.noRename.Add(1)
				g.log.Infof("rename guard: the RENAME (session %d) ended before reaching %s; unlocking", id, table)
				return
			}
		}
		if ctx.Err() != nil {
			g.killed.Add(1)
			g.log.Warningf("rename guard: RENAME (session %d) not first in line for %s after %s (last seen: %s); killing it so that this cut-over attempt fails with the original table intact",
				id, table, guardBound, seen)
			g.kill(id)
			return
		}
		time.Sleep(guardPoll)
	}
}

// lastBefore is the greatest of the RENAME's other names that sorts before table, in the byte
// order the server's metadata locks are acquired in (same schema, so the names decide).
func lastBefore(table string, names ...string) (string, bool) {
	best, ok := "", false
	for _, n := range names {
		if n < table && (!ok || n > best) {
			best, ok = n, true
		}
	}
	return best, ok
}

// findRename is the session id of gh-ost's RENAME of this table, 0 when there is none.
func (g *renameGuard) findRename(ctx context.Context, schema, table, ghost string) (int64, error) {
	// gh-ost writes the names with go/sql EscapeName: backticks, nothing escaped inside.
	tail := fmt.Sprintf("`%s`.`%s` to `%s`.`%s`", schema, ghost, schema, table)
	var id int64
	err := g.db.QueryRowContext(ctx, `SELECT ID FROM information_schema.PROCESSLIST
		WHERE COMMAND = 'Query' AND LEFT(INFO, ?) = ? AND INSTR(INFO, ?) > 0 ORDER BY ID LIMIT 1`,
		len(renamePrefix), renamePrefix, tail).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("look for gh-ost's RENAME in the processlist: %w", err)
	}
	return id, nil
}

// exclusivelyHeld reports whether another session holds an exclusive metadata lock on
// schema.name. SHOW CREATE TABLE takes the high-priority shared lock, which a granted exclusive
// lock blocks and a merely pending one does not (sql/mdl.cc, MDL_SHARED_HIGH_PRIO): with
// lock_wait_timeout=0 it fails with 1205 exactly when the lock is held, so a RENAME still queued
// behind a reader of that table is not mistaken for one that got past it (verified on 10.11: a
// plain SELECT fails in both cases). A missing table whose name nobody locks answers 1146.
func (g *renameGuard) exclusivelyHeld(ctx context.Context, schema, name string) (bool, error) {
	rows, err := g.db.QueryContext(ctx, "SET STATEMENT lock_wait_timeout = 0 FOR SHOW CREATE TABLE "+qualified(schema, name))
	if err == nil {
		for rows.Next() {
		}
		err = rows.Close()
	}
	var me *mysql.MySQLError
	switch {
	case err == nil:
		return false, nil
	case errors.As(err, &me) && me.Number == errLockWaitTimeout:
		return true, nil
	case errors.As(err, &me) && me.Number == errNoSuchTable:
		return false, nil
	}
	return false, err
}

// waiting reports whether session id is waiting for a metadata lock now.
func (g *renameGuard) waiting(ctx context.Context, id int64) (bool, error) {
	var state sql.NullString
	err := g.db.QueryRowContext(ctx, "SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return state.String == mdlWaitState, err
}

// kill stops the RENAME's statement; gh-ost sees its rename fail and retries the cut-over.
func (g *renameGuard) kill(id int64) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if _, err := g.db.ExecContext(ctx, fmt.Sprintf("KILL QUERY %d", id)); err != nil {
		g.log.Warningf("rename guard: kill query %d: %v", id, err)
	}
}

// killAnyRename kills gh-ost's RENAME when the processlist could not be read in time: the last
// resort before an unlock that could let a write reach the old table.
func (g *renameGuard) killAnyRename(schema, table, ghost string) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if id, err := g.findRename(ctx, schema, table, ghost); err == nil && id != 0 {
		g.killed.Add(1)
		g.kill(id)
	} else if err != nil {
		g.log.Warningf("rename guard: %v", err)
	}
}

// openGuardDB is the guard's own pool on the primary, with short timeouts, kept warm: the guard
// runs while the table is locked and must not wait for a dial.
func openGuardDB(e Endpoint) (*sql.DB, error) {
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr = e.User, e.Password, "tcp", e.Addr()
	c.InterpolateParams = true
	c.Timeout, c.ReadTimeout, c.WriteTimeout = 2*time.Second, 5*time.Second, 5*time.Second
	db, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	return db, nil
}
