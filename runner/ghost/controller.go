package ghost

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql" // the controller's own connections (without the compat dialer).

	"github.com/ghostgate/ghostgate/migration"
)

// Errors callers branch on.
var (
	// ErrAborted: the run was aborted (Abort, or the Start context ended) and cleaned up.
	ErrAborted = errors.New("ghost: migration aborted")
	// ErrNotRunning: a command was sent to a worker that has already finished.
	ErrNotRunning = errors.New("ghost: worker is not running")
	// ErrRenamedBeforeAbort: the worker died or was aborted after the atomic rename had already
	// happened; the table has the new shape and the original is kept under gh-ost's old-table name.
	ErrRenamedBeforeAbort = errors.New("ghost: the cut-over rename had already happened")
	// ErrCutOverWithoutGate: the table was renamed although the controller never granted a
	// cut-over permit. It cannot happen through gh-ost's hooks (gate.go); if it ever does, the
	// change is applied and must be reported as exactly that, never as a failure that left the
	// original intact.
	ErrCutOverWithoutGate = errors.New("ghost: THE TABLE WAS CUT OVER WITHOUT THE GATE'S PERMIT")
	// ErrReleased: the worker was stopped by Release (or the Start context ended with it as the
	// cause) and its ghost and changelog tables were kept, for whoever resumes the migration.
	ErrReleased = errors.New("ghost: worker stopped, its tables kept for a resume")
)

// DefaultCutOverPermit is how long one cut-over permit lets gh-ost start attempts: the first
// attempt and the retries of its exponential backoff (1 s, 2 s, 4 s) fit; a retry after that waits
// for the gate to open again.
const DefaultCutOverPermit = 10 * time.Second

// commandTimeout bounds the wait for the worker's acknowledgement of a command.
const commandTimeout = 5 * time.Second

// WorkerError means the worker failed or died: gh-ost's error (if it said one) and the tail of the
// worker log. The ghost and changelog tables were dropped before it was returned.
type WorkerError struct {
	Message  string // gh-ost's error, empty when the worker died without one
	ExitCode int    // -1 when killed by a signal
	LogFile  string
	LogTail  string
}

func (e *WorkerError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("worker exited with code %d", e.ExitCode)
	}
	return fmt.Sprintf("ghost: gh-ost failed: %s (log %s)\n%s", msg, e.LogFile, e.LogTail)
}

// Result describes a finished run.
type Result struct {
	MigrationID string
	RowsCopied  int64
	Duration    time.Duration
	// OldTable is the original table, renamed away by the cut-over and kept (gh-ost's
	// "_<table>_<timestamp>_del"); empty when Spec.DropOldTable had gh-ost drop it.
	OldTable string
	Shape    string // normalized SHOW CREATE TABLE of the new table (success only)
	LogFile  string
	// LockDuration is how long the successful cut-over held the table locked (LOCK TABLES until the
	// rename completed): the stall applications saw.
	LockDuration time.Duration
	// CutOverRepairs are the writes lost in gh-ost's cut-over race on MariaDB (see audit.go) and
	// what was done about each; Wait returns a *LostWritesError when any could not be repaired.
	CutOverRepairs []LostWrite
	// MetadataLockCheck tells whether gh-ost's pre-rename metadata-lock check guarded the
	// cut-over (it needs performance_schema on the primary); without it the audit is the guard.
	MetadataLockCheck bool
	// Guard is what the rename guard did at each UNLOCK of gh-ost's cut-over lock (renameguard.go):
	// on MariaDB it holds the unlock until the RENAME is first in line for the table, with or
	// without performance_schema.
	Guard GuardStats
	// BinlogFilter is what the worker's binlog filter did (binlogfilter.go): the events it
	// forwarded to gh-ost and those of other tables it dropped. Nil when it was off.
	BinlogFilter *FilterStats
	// CutOverAttempts is how many cut-over attempts gh-ost started, each under a permit.
	CutOverAttempts int
	// ResumedFrom is the checkpoint a resumed run continued from (nil for a fresh run).
	ResumedFrom *Checkpoint
	// InspectorServerID is the @@server_id of the server gh-ost read the binlog from: a resume or a
	// revert of this migration must read the same one (Spec.InspectorServerID).
	InspectorServerID uint32
	// LogLost says why the worker log is incomplete ("" when every line was written).
	LogLost string
}

// Worker is the controller's handle on one gh-ost worker process.
type Worker struct {
	spec      Spec
	db        *sql.DB // the primary, for checks and cleanup
	insp      *sql.DB // the replica gh-ost reads the binlog from; nil when it reads the primary's
	cmd       *exec.Cmd
	started   time.Time
	expected  string          // normalized shape the table must have after cut-over
	original  string          // normalized shape before
	oldBefore map[string]bool // old-table names that existed before this run
	mark      auditMark       // binlog position before any cut-over, for the lost-write audit
	resumed   *Checkpoint     // the checkpoint a resumed run continues from
	inspID    uint32          // @@server_id of the binlog's server

	stdinMu sync.Mutex
	stdin   io.WriteCloser
	nextID  atomic.Int64
	acksMu  sync.Mutex
	acks    map[int64]chan ackResult

	events      chan migration.Progress
	ready       chan struct{}
	readyOnce   sync.Once
	gate        chan int // attempts waiting at the gate after the first (Ready covers the first)
	done        chan struct{}
	aborted     atomic.Bool
	released    atomic.Bool // stopped by Release: the tables stay
	permitsSent atomic.Int64
	logLost     atomic.Pointer[string] // why the worker log is incomplete (evLogLost)

	// written by the event reader, read after done closes
	final      *event
	lastApply  [2]float64 // the worker's last apply capacity and its seconds measured (readEvents, then supervise)
	lastCopied int64

	result Result
	err    error
}

// Start checks the table, learns the expected shape, and starts the worker process. The worker
// runs until the cut-over is done (after CutOver), it fails, or it is aborted: when ctx ends before
// that, the worker is aborted as by Abort, or stopped as by Release when the context's cause is
// ErrReleased (a controller that lost its lease must leave the tables to the new owner).
func Start(ctx context.Context, spec Spec) (*Worker, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	spec = spec.withDefaults()
	db, err := sql.Open("mysql", spec.Primary.dsn(spec.Schema))
	if err != nil {
		return nil, fmt.Errorf("ghost: open primary: %w", err)
	}
	w := &Worker{spec: spec, db: db, acks: map[int64]chan ackResult{}, gate: make(chan int, 1),
		events: make(chan migration.Progress, 256), ready: make(chan struct{}), done: make(chan struct{})}
	if !spec.OnPrimary {
		if w.insp, err = sql.Open("mysql", spec.Replica.dsn("")); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("ghost: open replica: %w", err)
		}
	}
	closeDBs := func() {
		_ = db.Close()
		if w.insp != nil {
			_ = w.insp.Close()
		}
	}
	if err := w.prepare(ctx); err != nil {
		closeDBs()
		return nil, err
	}
	if err := w.spawn(); err != nil {
		closeDBs()
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(context.Cause(ctx), ErrReleased) {
			_ = w.Release()
			return
		}
		_ = w.Abort()
	})
	go func() { <-w.done; stop() }()
	return w, nil
}

// prepare refuses leftovers (or, for a resume or revert, checks what it needs), records the
// shapes and old tables, and sets up the work dir.
func (w *Worker) prepare(ctx context.Context) error {
	s := w.spec
	if err := w.checkInspector(ctx); err != nil {
		return err
	}
	if !s.Resume {
		if err := checkLeftovers(ctx, w.db, s.Schema, s.Table); err != nil {
			return err
		}
	}
	stmt, err := showCreate(ctx, w.db, s.Schema, s.Table)
	if err != nil {
		return err
	}
	w.original = normalizeShape(stmt)
	if s.Revert {
		// Reverted, the table has the old table's shape again.
		if w.expected, err = tableShape(ctx, w.db, s.Schema, s.OldTable); err != nil {
			return &NotResumableError{Schema: s.Schema, Table: s.Table, Reason: "the old table " + s.OldTable + " is gone (dropped?): nothing to revert to"}
		}
	} else if w.expected, err = expectedShape(ctx, w.db, s); err != nil {
		return err
	}
	if s.Resume || s.Revert {
		if err := w.checkCheckpoint(ctx); err != nil {
			return err
		}
	}
	olds, err := oldTables(ctx, w.db, s.Schema, s.Table)
	if err != nil {
		return err
	}
	w.oldBefore = map[string]bool{}
	for _, o := range olds {
		w.oldBefore[o.name] = true
	}
	if w.mark, err = markBinlog(ctx, w.db, s.Schema, s.Table); err != nil {
		return err
	}
	if w.spec.SkipMetadataLockCheck, err = withoutPerformanceSchema(ctx, w.db); err != nil {
		return err
	}
	return privateDir(s.WorkDir)
}

// withoutPerformanceSchema reports whether the primary runs without performance_schema, which
// gh-ost's metadata-lock check needs (a static setting: changing it needs a restart).
func withoutPerformanceSchema(ctx context.Context, db *sql.DB) (bool, error) {
	var on int
	if err := db.QueryRowContext(ctx, "SELECT @@global.performance_schema").Scan(&on); err != nil {
		return false, fmt.Errorf("ghost: read performance_schema: %w", err)
	}
	return on == 0, nil
}

// spawn starts "<self> Sentinel" with the spec on stdin, events on fd 3 and output to the log.
func (w *Worker) spawn() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("ghost: find own executable: %w", err)
	}
	logFile, err := os.OpenFile(w.spec.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("ghost: worker log: %w", err)
	}
	defer logFile.Close()
	evRead, evWrite, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("ghost: events pipe: %w", err)
	}
	cmd := exec.Command(exe, Sentinel)
	cmd.Env = workerEnv(os.Environ()) // the password comes on stdin, never in the environment
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.ExtraFiles = []*os.File{evWrite} // fd 3
	// Its own process group: Abort kills the worker and anything it started, and a Ctrl-C at the
	// terminal reaches the controller only, which then aborts in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		_ = evRead.Close()
		_ = evWrite.Close()
		return fmt.Errorf("ghost: stdin pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		_ = evRead.Close()
		_ = evWrite.Close()
		return fmt.Errorf("ghost: start worker: %w", err)
	}
	_ = evWrite.Close() // the child has its copy; EOF on evRead now means the child is gone
	w.cmd, w.stdin, w.started = cmd, stdin, time.Now()
	spec, _ := json.Marshal(w.spec)
	readerDone := make(chan struct{})
	go func() { defer close(readerDone); w.readEvents(evRead) }()
	go w.supervise(readerDone)
	if _, err := stdin.Write(append(spec, '\n')); err != nil {
		_ = w.Abort()
		return fmt.Errorf("ghost: send spec to worker: %w (log %s)", err, w.spec.LogFile())
	}
	return nil
}

// readEvents consumes the worker's events until the pipe closes.
func (w *Worker) readEvents(r io.ReadCloser) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			continue // a torn line from a dying worker
		}
		switch ev.Type {
		case evProgress:
			if ev.Progress == nil {
				continue
			}
			w.lastCopied = ev.Progress.RowsCopied
			if ev.Progress.ApplyRateSeconds > 0 {
				w.lastApply = [2]float64{ev.Progress.ApplyRate, ev.Progress.ApplyRateSeconds}
			}
			w.emit(*ev.Progress)
		case evGate:
			if w.permitsSent.Load() == 0 {
				w.readyOnce.Do(func() { w.advanceMark(); close(w.ready) })
				continue
			}
			select { // a later attempt waits for a fresh permit; only the newest matters
			case w.gate <- ev.Attempt:
			default:
			}
		case evAck:
			w.acksMu.Lock()
			ch := w.acks[ev.AckID]
			delete(w.acks, ev.AckID)
			w.acksMu.Unlock()
			if ch != nil {
				ch <- ackResult{coords: ev.Coords, pending: ev.Pending, err: ackError(ev.Error)}
			}
		case evLogLost:
			w.logLost.Store(&ev.Error)
		case evDone:
			e := ev
			w.final = &e
		}
	}
}

// ackResult is the worker's acknowledgement of one command.
type ackResult struct {
	coords  string // await_applied: the applier's position
	pending bool   // await_applied: the wait ended before the applier got there
	err     error
}

func ackError(msg string) error {
	if msg == "" {
		return nil
	}
	return fmt.Errorf("ghost: worker refused command: %s", msg)
}

// emit forwards a progress event without ever blocking the worker's pipe: a consumer that falls
// behind loses intermediate events, never the outcome (Wait).
func (w *Worker) emit(p migration.Progress) {
	select {
	case w.events <- p:
	default:
	}
}

// supervise waits for the worker to end, then verifies or cleans up and publishes the outcome.
func (w *Worker) supervise(readerDone <-chan struct{}) {
	<-readerDone
	waitErr := w.cmd.Wait()
	w.spec.removeRunFiles() // the worker is gone, killed or not: its socket and flags mean nothing now
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w.result = Result{MigrationID: w.spec.MigrationID, RowsCopied: w.lastCopied,
		Duration: time.Since(w.started), LogFile: w.spec.LogFile(), MetadataLockCheck: !w.spec.SkipMetadataLockCheck,
		ResumedFrom: w.resumed, InspectorServerID: w.inspID, LogLost: w.LogLost()}
	if w.final != nil {
		w.result.CutOverAttempts = w.final.Attempts
	}
	if w.final != nil && w.final.Error == "" && w.final.CutOverComplete {
		w.err = w.verify(ctx)
	} else {
		w.err = w.cleanup(ctx, waitErr)
		if errors.Is(w.err, ErrRenamedBeforeAbort) {
			// The rename happened, so writes may have been lost in its race all the same.
			repairs, auditErr := auditCutOver(ctx, w.db, w.auditTarget(), w.mark)
			w.result.CutOverRepairs = repairs
			if auditErr != nil {
				w.err = errors.Join(w.err, auditErr)
			}
		}
	}
	if w.permitsSent.Load() == 0 && (errors.Is(w.err, ErrRenamedBeforeAbort) || (w.final != nil && w.final.CutOverComplete)) {
		w.err = fmt.Errorf("%w: %s.%s has the new shape; the controller never opened the gate for it: %w",
			ErrCutOverWithoutGate, w.spec.Schema, w.spec.Table, errOrSuccess(w.err))
	}
	if w.err == nil {
		// The apply capacity the run measured stays on its last report: the planner reads it
		// from the store (store.ReadApplyCapacity).
		w.emit(migration.Progress{Time: time.Now(), Phase: migration.PhaseDone, RowsCopied: w.result.RowsCopied,
			RowsEstimated: w.result.RowsCopied, Ratio: 1, ApplyRate: w.lastApply[0], ApplyRateSeconds: w.lastApply[1]})
	}
	_ = w.db.Close()
	if w.insp != nil {
		_ = w.insp.Close()
	}
	w.acksMu.Lock()
	for id, ch := range w.acks {
		ch <- ackResult{err: ErrNotRunning}
		delete(w.acks, id)
	}
	w.acksMu.Unlock()
	close(w.events)
	close(w.done)
}

// verify accepts a run only when the rename happened and the table has the expected shape.
func (w *Worker) verify(ctx context.Context) error {
	w.result.RowsCopied = w.final.RowsCopied
	w.result.OldTable = w.final.OldTable
	w.result.LockDuration = w.final.LockDuration
	w.result.Guard = w.final.Guard
	w.result.BinlogFilter = w.final.BinlogFilter
	// The audit comes first: lost writes are repaired whatever else is wrong with the result.
	repairs, auditErr := auditCutOver(ctx, w.db, w.auditTarget(), w.mark)
	w.result.CutOverRepairs = repairs
	stmt, err := showCreate(ctx, w.db, w.spec.Schema, w.spec.Table)
	if err != nil {
		return errors.Join(auditErr, err)
	}
	actual := normalizeShape(stmt)
	if actual != w.expected {
		return errors.Join(auditErr, &ShapeMismatchError{Expected: w.expected, Actual: actual})
	}
	if auditErr != nil {
		return auditErr
	}
	if w.result.OldTable != "" {
		ok, err := tableExists(ctx, w.db, w.spec.Schema, w.result.OldTable)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("ghost: gh-ost reported a cut-over but the old table %s does not exist", w.result.OldTable)
		}
	}
	w.result.Shape = actual
	return nil
}

// cleanup drops the run's ghost, changelog and sentry tables and says what went wrong.
func (w *Worker) cleanup(ctx context.Context, waitErr error) error {
	var cause error
	switch {
	case w.aborted.Load():
		cause = ErrAborted
	default:
		we := &WorkerError{ExitCode: w.cmd.ProcessState.ExitCode(), LogFile: w.spec.LogFile(), LogTail: logTail(w.spec.LogFile(), 20)}
		if lost := w.LogLost(); lost != "" {
			we.LogTail += "\n(the worker log is incomplete: " + lost + ")"
		}
		if w.final != nil {
			we.Message = w.final.Error
		}
		if we.Message == "" && waitErr != nil {
			we.Message = waitErr.Error()
		}
		cause = we
	}
	if w.released.Load() {
		cause = ErrReleased
	}
	renamed := false
	if stmt, err := showCreate(ctx, w.db, w.spec.Schema, w.spec.Table); err == nil {
		if actual := normalizeShape(stmt); w.expected != w.original && actual == w.expected {
			renamed = true
			cause = fmt.Errorf("%w: %w", ErrRenamedBeforeAbort, cause)
		}
	}
	if w.released.Load() {
		// Another controller holds the migration's lease now (or soon): its tables are its resume
		// point, whatever happened here. A Release that wins over an Abort keeps them too.
		return cause
	}
	// A worker that died without a word (killed, crashed) after a checkpoint leaves a run that can
	// go on: its tables stay. A failure gh-ost reported, or an abort, would only repeat.
	if !w.aborted.Load() && !renamed && w.final == nil && !w.spec.Revert {
		if cp, ok := w.resumable(ctx); ok {
			return &ResumableError{Checkpoint: cp, Cause: cause}
		}
	}
	if cleanErr := cleanupTables(ctx, w.db, w.spec, w.oldBefore); cleanErr != nil {
		return errors.Join(cause, cleanErr)
	}
	return cause
}

// resumable reports the last checkpoint when the run's ghost and changelog tables are there and
// the checkpoint is from before the cut-over.
func (w *Worker) resumable(ctx context.Context) (Checkpoint, bool) {
	if w.spec.NoCheckpoint {
		return Checkpoint{}, false
	}
	for _, t := range []string{GhostTable(w.spec.Table), ChangelogTable(w.spec.Table)} {
		if ok, err := tableExists(ctx, w.db, w.spec.Schema, t); err != nil || !ok {
			return Checkpoint{}, false
		}
	}
	cp, ok, err := readCheckpoint(ctx, w.db, w.spec.Schema, w.spec.Table)
	if err != nil || !ok || cp.AfterCutOver {
		return Checkpoint{}, false
	}
	return cp, true
}

// errOrSuccess names an outcome for a message: the error, or that gh-ost reported success.
func errOrSuccess(err error) error {
	if err == nil {
		return errors.New("gh-ost reported a completed cut-over")
	}
	return err
}
