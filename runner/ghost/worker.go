package ghost

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/github/gh-ost/go/base"
	"github.com/github/gh-ost/go/logic"

	"github.com/ghostgate/ghostgate/migration"
)

// appVersion is what gh-ost records as its version in the changelog table.
const appVersion = "ghostgate-gh-ost-1.1.10"

// MaybeRunWorker runs the gh-ost worker and exits the process when argv[1] is Sentinel; otherwise
// it returns at once. Call it first thing in main (cmd/migrate) and in TestMain of packages whose
// tests start workers, so that the binary can be its own worker.
func MaybeRunWorker() {
	if len(os.Args) < 2 || os.Args[1] != Sentinel {
		return
	}
	os.Exit(runWorker(os.Stdin, os.NewFile(eventsFD, "ghostgate-events")))
}

// runWorker is the worker's main: read the spec, configure gh-ost, steer it, report, return the
// exit code. gh-ost v1.1.10 returns every failure from Migrate (an abort cancels its migration
// context), so the worker always reports how the run ended.
func runWorker(in io.Reader, events io.Writer) int {
	out := newEventWriter(events)
	commands := bufio.NewReader(in)
	spec, err := readSpec(commands)
	if err != nil {
		out.send(event{Type: evDone, Error: err.Error()})
		return 2
	}
	guard, tail := &renameGuard{}, &copyTail{}
	RegisterMariaDBCompat("tcp", CompatHooks{BeforeUnlock: guard.beforeUnlock, CopyTail: tail.seen})
	w := &worker{spec: spec, out: out, batch: newBatcher(spec.withDefaults())}
	w.gate = newGatekeeper(func(attempt int) {
		// The phase first: whoever reacts to the gate event has already seen the run postponing.
		p := w.snapshot(time.Now())
		if last := w.lastSent.Load(); last != nil {
			p.RowsPerSecond, p.BacklogEvents = last.RowsPerSecond, last.BacklogEvents
		}
		out.send(event{Type: evProgress, Progress: &p})
		out.send(event{Type: evGate, Attempt: attempt})
	})
	w.mc = newMigrationContext(spec)
	logger := newWorkerLogger(os.Stderr)
	logger.lost = func(err error, written int64) {
		out.send(event{Type: evLogLost, Error: fmt.Sprintf("%v after %d bytes; later lines are lost", err, written)})
	}
	w.mc.Log = logger
	var filter *binlogFilter
	if !spec.NoBinlogFilter {
		filter, err = startBinlogFilter(spec.inspector().Addr(), followTables(w.mc.DatabaseName, w.mc.OriginalTableName, w.mc.GetChangelogTableName()))
		if err != nil {
			out.send(event{Type: evDone, Error: err.Error()})
			return 2
		}
		filter.pointInspectorAt(w.mc)
		defer func() {
			filter.Close()
			w.mc.Log.Infof("%v", filter.Stats())
		}()
	}
	guardDB, err := openGuardDB(spec.Primary)
	if err != nil {
		out.send(event{Type: evDone, Error: err.Error()})
		return 2
	}
	defer guardDB.Close()
	guard.attach(guardDB, w.mc)
	go func() { _ = guardDB.Ping() }() // warm, so that the guard never dials under the lock
	hk := &hooks{ctx: w.mc.GetContext(), gate: w.gate, copyDone: &w.copyDone, atGate: &w.atGate}
	if spec.Resume || spec.Revert {
		hk.gap, hk.gapRevert = &gapReplay{spec: spec, mc: w.mc}, spec.Revert
	}
	w.mc.Hooks = hk
	w.installRetrySleep(w.mc.GetContext())
	if err := w.mc.ReadMaxLoad(spec.MaxLoad); err != nil {
		out.send(event{Type: evDone, Error: err.Error()})
		return 2
	}
	if err := w.mc.ReadCriticalLoad(spec.CriticalLoad); err != nil {
		out.send(event{Type: evDone, Error: err.Error()})
		return 2
	}
	go w.control(commands)
	defer servePprof(spec, w.mc.Log)() // opt-in profiles of the worker (pprof.go)
	stop := make(chan struct{})
	reported := make(chan struct{})
	go func() { defer close(reported); w.report(stop) }()

	migrator := logic.NewMigrator(w.mc, appVersion)
	w.migrator.Store(migrator)
	stopWaker := make(chan struct{})
	if queue, noop, qerr := wakerQueue(migrator, &w.noops); qerr == nil {
		go wake(queue, noop, &w.noops, w.copyDone.Load, stopWaker)
		if terr := tail.arm(queue, noop, &w.noops, w.mc, &w.copyDone); terr != nil {
			w.mc.Log.Warningf("%v: the cut-over may wait for the apply loop's one-second sleep after the copy", terr)
		}
		if cs, serr := newCopyStart(migrator, queue, &w.noops, w.mc, &w.copyDone); serr == nil {
			hk.start = cs.queueFirst
		} else {
			w.mc.Log.Warningf("%v: the copy may start after the apply loop's one-second sleep", serr)
		}
		if !spec.Revert { // a revert copies nothing: its apply loop (executeDMLWriteFuncs) never sleeps a second
			hk.awake = w.awaitApplyLoop
		}
	} else {
		w.mc.Log.Warningf("%v: binlog events will be applied in one-second batches after the copy", qerr)
	}
	if queue, qerr := eventQueue(migrator); qerr == nil {
		go w.tuneBatch(queue, stopWaker)
		hk.drain = drainer(queue, &w.noops, w.mc.Log, w.mc.GetLastHeartbeatOnChangelogTime)
		if spec.EstimateRowsOnly && !spec.Revert {
			if rc, rerr := newRowCounter(spec.inspector(), spec.Schema, queue, w.mc.Log); rerr == nil {
				defer rc.Close()
				hk.armCount = func() { rc.arm(migrator, w.mc) }
				w.rows.Store(rc)
			} else {
				w.mc.Log.Warningf("row count: %v; the progress stays on the statistics estimate", rerr)
			}
		}
	} else {
		w.batch.fix("gh-ost's event queue is out of reach")
		w.mc.Log.Warningf("%v: the apply batch stays at %d events", qerr, spec.DMLBatchSize)
	}
	if spec.Revert {
		err = migrator.Revert()
	} else {
		err = migrator.Migrate()
	}
	close(stopWaker)
	close(stop)
	<-reported
	done := event{Type: evDone, RowsCopied: w.mc.GetTotalRowsCopied()}
	done.CutOverComplete = atomic.LoadInt64(&w.mc.CutOverCompleteFlag) > 0
	done.Permits, done.Attempts = w.gate.state()
	done.Guard = guard.stats()
	if filter != nil {
		s := filter.Stats()
		done.BinlogFilter = &s
	}
	if done.CutOverComplete && !spec.DropOldTable {
		done.OldTable = w.mc.GetOldTableName() // StartTime is ours to read now that Migrate returned
	}
	if done.CutOverComplete && !w.mc.LockTablesStartTime.IsZero() && w.mc.RenameTablesEndTime.After(w.mc.LockTablesStartTime) {
		done.LockDuration = w.mc.RenameTablesEndTime.Sub(w.mc.LockTablesStartTime)
	}
	if err != nil {
		done.Error = err.Error()
		out.send(done)
		return 1
	}
	out.send(done)
	return 0
}

func readSpec(r *bufio.Reader) (Spec, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return Spec{}, fmt.Errorf("ghost worker: read spec: %w", err)
	}
	var s Spec
	if err := json.Unmarshal(line, &s); err != nil {
		return Spec{}, fmt.Errorf("ghost worker: decode spec: %w", err)
	}
	if err := s.Validate(); err != nil {
		return Spec{}, err
	}
	return s.withDefaults(), nil
}

// newMigrationContext sets every field the gh-ost binary's flags would set (go/cmd/gh-ost/main.go),
// explicitly, because a library user gets only NewMigrationContext's partial defaults.
func newMigrationContext(s Spec) *base.MigrationContext {
	mc := base.NewMigrationContext()
	mc.DatabaseName = s.Schema
	mc.OriginalTableName = s.Table
	mc.AlterStatement = s.Alter
	mc.AlterStatementOptions = s.Alter
	mc.Noop = false

	ins := s.inspector()
	mc.InspectorConnectionConfig.Key.Hostname = ins.Host
	mc.InspectorConnectionConfig.Key.Port = ins.Port
	mc.CliUser, mc.CliPassword = ins.User, ins.Password
	if s.OnPrimary {
		mc.AllowedRunningOnMaster = true
	} else {
		// We know the primary: name it rather than trust the replica's Master_Host, which may be
		// an address only the replica can resolve; this also allows a different account there.
		mc.AssumeMasterHostname = s.Primary.Addr()
		mc.CliMasterUser, mc.CliMasterPassword = s.Primary.User, s.Primary.Password
	}
	// SetConnectionConfig fills TransactionIsolation, which gh-ost puts into every DSN (the compat
	// dialer rewrites it for MariaDB); without it the DSN carries an empty isolation level.
	_ = mc.SetConnectionConfig("innodb")
	mc.ApplyCredentials()

	// MariaDB can report Slave_IO_Running: Preparing right after gh-ost restarts replication to
	// apply ROW format, failing the run intermittently; the sandbox and any sane gh-ost setup run
	// ROW binlogs, so assume it instead of restarting replication.
	mc.AssumeRBR = true
	mc.CutOverType = base.CutOverAtomic
	mc.CutOverExponentialBackoff = true
	_ = mc.SetExponentialBackoffMaxInterval(int64(DefaultBackoffMaxInterval / time.Second))
	mc.TimestampOldTable = true
	mc.OkToDropTable = s.DropOldTable
	mc.CountTableRows = !s.EstimateRowsOnly
	mc.ConcurrentCountTableRows = true
	mc.ReplicaServerId = uint(s.ReplicaServerID)

	// Per-migration files: an empty socket path panics in logic/server.go, and the default throttle
	// flag file /tmp/gh-ost.throttle is shared by every gh-ost on the host.
	mc.ServeSocketFile = s.socketFile()
	mc.DropServeSocket = true
	// No postpone flag file: the cut-over waits in the worker's OnBeforeCutOver hook (gate.go),
	// which no other process can undo by deleting a file.
	mc.PostponeCutOverFlagFile = ""
	mc.ThrottleAdditionalFlagFile = s.throttleFile()
	mc.PanicFlagFile = s.panicFile()

	// A duplicate of a new unique key, or a value a narrower column cannot hold, arriving during
	// the copy makes gh-ost's INSERT IGNORE drop or truncate the row silently; with
	// PanicOnWarnings the copy (and the binlog apply) fails on the warning instead, and the run
	// ends with the original table intact (go/logic/applier.go, "warnings detected").
	mc.PanicOnWarnings = !s.IgnoreWarnings
	// The planner has already asked the user about column renames (--allow-incompatible); gh-ost
	// refuses a CHANGE that renames a column unless told the rename is intended.
	mc.ApproveRenamedColumns = s.ApproveRenamedColumns
	// gh-ost PR #1536: before it releases the cut-over lock, wait until the RENAME is PENDING on
	// the original table's metadata lock, so that no DML waiting on that table can run against
	// the old one after the magic table is dropped. On MariaDB the instrument is off by default
	// even with performance_schema=ON: let gh-ost enable it. Without performance_schema the
	// controller sets SkipMetadataLockCheck and relies on its binlog audit (audit.go).
	mc.AllowSetupMetadataLockInstruments = true
	mc.SkipMetadataLockCheck = s.SkipMetadataLockCheck

	// Checkpoints make a dead run resumable and a completed one revertible (checkpoint.go).
	mc.Checkpoint = !s.NoCheckpoint
	mc.CheckpointIntervalSeconds = int64(s.CheckpointInterval / time.Second)
	mc.Resume = s.Resume
	if s.Revert {
		// A revert swaps back the original, whose triggers never left it.
		mc.Revert, mc.OldTableName = true, s.OldTable
	} else {
		// The table's triggers are re-created on the ghost table inside the cut-over's lock, under
		// a suffixed name (gh-ost v1.1.10, go/logic/applier.go CreateTriggersOnGhost); until then
		// the ghost table has none, so gh-ost's own writes to it fire nothing twice.
		mc.IncludeTriggers, mc.TriggerSuffix, mc.RemoveTriggerSuffix = true, s.TriggerSuffix, true
	}

	mc.SetHeartbeatIntervalMilliseconds(DefaultHeartbeatInterval.Milliseconds())
	mc.SetNiceRatio(s.NiceRatio)
	mc.SetChunkSize(s.ChunkSize)
	mc.SetDMLBatchSize(s.DMLBatchSize)
	mc.SetMaxLagMillisecondsThrottleThreshold(s.MaxLagMillis)
	mc.SetDefaultNumRetries(s.Retries)
	_ = mc.SetCutOverLockTimeoutSeconds(s.ghostLockTimeoutSeconds()) // validated: 1..10
	mc.ThrottleHTTPIntervalMillis = 100
	mc.ThrottleHTTPTimeoutMillis = 1000
	mc.HooksStatusIntervalSec = 60
	return mc
}

// worker is the child side of one migration.
type worker struct {
	spec Spec
	mc   *base.MigrationContext
	out  *eventWriter

	batch    *batcher    // the apply batch's size and the apply loop's measured capacity
	copyDone atomic.Bool // gh-ost's OnRowCopyComplete hook ran
	atGate   atomic.Bool // gh-ost's OnBeforeCutOver hook ran: its applier is set (applied.go)
	migrator atomic.Pointer[logic.Migrator]
	noops    noops // the waker's entries in gh-ost's event queue
	gate     *gatekeeper
	lastSent atomic.Pointer[migration.Progress] // the report loop's last progress event
	rows     atomic.Pointer[rowCounter]         // counts the rows left when the estimate proved short (rowcount.go); nil: gh-ost's figures only

	mu             sync.Mutex
	throttleReason string // the controller's reason for its throttle command
}

// control applies the controller's commands until stdin closes. EOF means the controller is gone:
// nobody can steer or clean up after this run any more, so the worker stops at once and leaves
// its tables for the leftover check of the next run.
func (w *worker) control(r *bufio.Reader) {
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			fmt.Fprintf(os.Stderr, "ghostgate worker: controller gone (%v), exiting\n", err)
			os.Exit(3)
		}
		var c command
		if err := json.Unmarshal(line, &c); err != nil {
			fmt.Fprintf(os.Stderr, "ghostgate worker: bad command %q: %v\n", line, err)
			continue
		}
		if c.Op == opAwaitApplied {
			go w.awaitApplied(c) // acknowledges by itself, when the applier got there
			continue
		}
		ack := event{Type: evAck, AckID: c.ID}
		if err := w.apply(c); err != nil {
			ack.Error = err.Error()
		}
		w.out.send(ack)
	}
}

func (w *worker) apply(c command) error {
	switch c.Op {
	case opThrottle:
		w.mu.Lock()
		w.throttleReason = c.Reason
		w.mu.Unlock()
		atomic.StoreInt64(&w.mc.ThrottleCommandedByUser, 1)
		// gh-ost re-reads ThrottleCommandedByUser only once a second (collectGeneralThrottleMetrics);
		// setting the general check result too makes its 100 ms throttle check see it at once.
		w.mc.SetThrottleGeneralCheckResult(base.NewThrottleCheckResult(true, "commanded by user", base.UserCommandThrottleReasonHint))
	case opUnthrottle:
		atomic.StoreInt64(&w.mc.ThrottleCommandedByUser, 0)
		if r := w.mc.GetThrottleGeneralCheckResult(); r.ReasonHint == base.UserCommandThrottleReasonHint {
			w.mc.SetThrottleGeneralCheckResult(base.NewThrottleCheckResult(false, "", base.NoThrottleReasonHint))
		}
	case opChunkSize:
		if c.N < 10 || c.N > 100000 {
			return fmt.Errorf("chunk size %d outside 10..100000", c.N)
		}
		w.mc.SetChunkSize(c.N)
	case opNiceRatio:
		if err := migration.CheckNiceRatio(c.Ratio); err != nil {
			return err
		}
		// gh-ost reads it after every chunk (Migrator.iterateChunks' applyCopyRowsQueue) and in
		// our copy tail (copytail.go): the next chunk's sleep is the new ratio's.
		w.mc.SetNiceRatio(c.Ratio)
	case opCutOver:
		// A permit for cut-over attempts during the next N milliseconds (gate.go).
		if c.N <= 0 {
			return fmt.Errorf("cut-over permit of %dms: must be positive", c.N)
		}
		w.gate.grant(time.Duration(c.N) * time.Millisecond)
	default:
		return fmt.Errorf("unknown command %q", c.Op)
	}
	return nil
}
