package ghost

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/github/gh-ost/go/base"
	"github.com/github/gh-ost/go/logic"
	golog "github.com/openark/golib/log"
)

// appVersion is what gh-ost records as its version in the changelog table.
const appVersion = "ghostgate-gh-ost-1.1.6"

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
// exit code. gh-ost's own fatal paths exit the process from inside its logger.
func runWorker(in io.Reader, events io.Writer) int {
	out := newEventWriter(events)
	commands := bufio.NewReader(in)
	spec, err := readSpec(commands)
	if err != nil {
		out.send(event{Type: evDone, Error: err.Error()})
		return 2
	}
	RegisterMariaDBCompat("tcp")
	w := &worker{spec: spec, out: out}
	w.mc = newMigrationContext(spec)
	w.mc.Log = &eventLogger{Logger: base.NewDefaultLogger(), out: out, copyDone: &w.copyDone}
	if err := w.mc.ReadMaxLoad(spec.MaxLoad); err != nil {
		out.send(event{Type: evDone, Error: err.Error()})
		return 2
	}
	if err := w.mc.ReadCriticalLoad(spec.CriticalLoad); err != nil {
		out.send(event{Type: evDone, Error: err.Error()})
		return 2
	}
	go w.control(commands)
	stop := make(chan struct{})
	reported := make(chan struct{})
	go func() { defer close(reported); w.report(stop) }()

	migrator := logic.NewMigrator(w.mc, appVersion)
	stopWaker := make(chan struct{})
	if queue, noop, qerr := wakerQueue(migrator, &w.noops); qerr == nil {
		go wake(queue, noop, &w.noops, w.copyDone.Load, stopWaker)
	} else {
		w.mc.Log.Warningf("%v: binlog events will be applied in one-second batches after the copy", qerr)
	}
	err = migrator.Migrate()
	close(stopWaker)
	close(stop)
	<-reported
	done := event{Type: evDone, RowsCopied: w.mc.GetTotalRowsCopied()}
	done.CutOverComplete = atomic.LoadInt64(&w.mc.CutOverCompleteFlag) > 0
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
	mc.PostponeCutOverFlagFile = s.postponeFile()
	mc.ThrottleAdditionalFlagFile = s.throttleFile()
	mc.PanicFlagFile = s.panicFile()

	mc.SetHeartbeatIntervalMilliseconds(DefaultHeartbeatInterval.Milliseconds())
	mc.SetNiceRatio(s.NiceRatio)
	mc.SetChunkSize(s.ChunkSize)
	mc.SetDMLBatchSize(s.DMLBatchSize)
	mc.SetMaxLagMillisecondsThrottleThreshold(s.MaxLagMillis)
	mc.SetDefaultNumRetries(s.Retries)
	_ = mc.SetCutOverLockTimeoutSeconds(int64(s.CutOverLockTimeout / time.Second)) // validated 1..10
	mc.ThrottleHTTPIntervalMillis = 100
	mc.ThrottleHTTPTimeoutMillis = 1000
	mc.HooksStatusIntervalSec = 60
	golog.SetLevel(golog.INFO)
	return mc
}

// worker is the child side of one migration.
type worker struct {
	spec Spec
	mc   *base.MigrationContext
	out  *eventWriter

	copyDone       atomic.Bool // gh-ost logged "Row copy complete"
	noops          noops       // the waker's entries in gh-ost's event queue
	cutOverAllowed atomic.Bool

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
	case opCutOver:
		// gh-ost postpones while the flag file exists (checked every second in cutOver); removing
		// it lets the cut-over proceed, also when it is requested before the copy is complete.
		w.cutOverAllowed.Store(true)
		if err := os.Remove(w.spec.postponeFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if atomic.LoadInt64(&w.mc.IsPostponingCutOver) > 0 {
			atomic.StoreInt64(&w.mc.UserCommandedUnpostponeFlag, 1)
		}
	default:
		return fmt.Errorf("unknown command %q", c.Op)
	}
	return nil
}

// eventLogger is gh-ost's default logger (which writes to the log file and exits the process on
// Fatal) plus a structured fatal event first, and the "Row copy complete" milestone, which gh-ost
// exposes nowhere else.
type eventLogger struct {
	base.Logger
	out      *eventWriter
	copyDone *atomic.Bool
}

func (l *eventLogger) Infof(format string, args ...any) {
	if format == "Row copy complete" {
		l.copyDone.Store(true)
	}
	l.Logger.Infof(format, args...)
}

func (l *eventLogger) Fatal(args ...any) error {
	l.out.send(event{Type: evFatal, Error: fmt.Sprint(args...)})
	return l.Logger.Fatal(args...)
}

func (l *eventLogger) Fatalf(format string, args ...any) error {
	l.out.send(event{Type: evFatal, Error: fmt.Sprintf(format, args...)})
	return l.Logger.Fatalf(format, args...)
}

func (l *eventLogger) Fatale(err error) error {
	l.out.send(event{Type: evFatal, Error: err.Error()})
	return l.Logger.Fatale(err)
}
