package ghost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/ghostgate/ghostgate/migration"
)

// Events streams progress about twice a second: phases starting → copying → postponing → cut_over
// → done. It is closed when the worker has finished and its outcome is settled (Wait). A consumer
// that falls behind misses intermediate events; the outcome is always available from Wait.
func (w *Worker) Events() <-chan migration.Progress { return w.events }

// Ready is closed when the copy is complete and gh-ost waits at the gate for its first cut-over
// permit, keeping the ghost table in sync meanwhile. It is never closed for a run that fails
// before.
func (w *Worker) Ready() <-chan struct{} { return w.ready }

// GateAgain delivers the number of a later cut-over attempt that waits for a fresh permit: the
// earlier attempts failed (lock wait timeout, a long transaction) and the last permit expired.
// The caller asks its gate again and calls CutOver once it opens.
func (w *Worker) GateAgain() <-chan int { return w.gate }

// Done is closed when the worker has finished and Wait will not block.
func (w *Worker) Done() <-chan struct{} { return w.done }

// InspectorServerID is the @@server_id of the server gh-ost reads the binlog from: a resume or a
// revert of this migration must read the same one.
func (w *Worker) InspectorServerID() uint32 { return w.inspID }

// LogLost says why the worker log is incomplete (a full disk), "" while every line was written.
func (w *Worker) LogLost() string {
	if p := w.logLost.Load(); p != nil {
		return *p
	}
	return ""
}

// Spec is the (defaulted) spec the worker runs.
func (w *Worker) Spec() Spec { return w.spec }

// Throttle makes gh-ost pause the row copy and the binlog apply until Unthrottle; reason is
// reported in the progress events. gh-ost obeys within about 350 ms (its 100 ms throttle check and
// 250 ms throttled sleep) plus the chunk in flight.
func (w *Worker) Throttle(reason string) error {
	return w.send(command{Op: opThrottle, Reason: reason})
}

// Unthrottle lifts a Throttle. gh-ost's own reasons (replica lag, max-load) still apply.
func (w *Worker) Unthrottle() error { return w.send(command{Op: opUnthrottle}) }

// SetChunkSize changes the rows per copy chunk (10..100000) from the next chunk on.
func (w *Worker) SetChunkSize(n int64) error { return w.send(command{Op: opChunkSize, N: n}) }

// SetNiceRatio changes gh-ost's sleep after each copy chunk, in multiples of the chunk's time
// (0..migration.MaxNiceRatio; 0 none, 1 halves the copy rate), from the next chunk on.
func (w *Worker) SetNiceRatio(r float64) error {
	return w.send(command{Op: opNiceRatio, Ratio: r})
}

// CutOver grants a cut-over permit: gh-ost may start cut-over attempts (the atomic rename) during
// the next validFor (DefaultCutOverPermit when zero). This is the seam where the runner asks its
// cut-over gate first; nothing else lets gh-ost rename. Called before Ready, a permit still valid
// when the copy ends lets the cut-over follow at once. The outcome is reported by Wait.
func (w *Worker) CutOver(validFor time.Duration) error {
	if validFor <= 0 {
		validFor = DefaultCutOverPermit
	}
	// Counted before it is sent: the audit's mark and the bypass check must never see a permit
	// the worker already has as missing.
	w.permitsSent.Add(1)
	return w.send(command{Op: opCutOver, N: validFor.Milliseconds()})
}

// Abort kills the worker (its whole process group) and drops the ghost and changelog tables of this
// run; the original table is never touched. It returns once the cleanup is done; Wait then reports
// ErrAborted (or the success, when the cut-over had already completed). Safe to call repeatedly
// and after the end.
func (w *Worker) Abort() error {
	select {
	case <-w.done:
		return nil
	default:
	}
	w.aborted.Store(true)
	// Negative pid: the process group (Setpgid at start). ESRCH means it is already gone.
	if err := syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("ghost: kill worker: %w", err)
	}
	<-w.done
	if w.err != nil && !errors.Is(w.err, ErrAborted) {
		return w.err
	}
	return nil
}

// Release stops the worker (kills its whole process group) like a kill -9 of the controller
// would, and keeps its ghost and changelog tables and its checkpoint: another controller resumes
// the migration from there. It returns once the worker has ended; Wait then reports ErrReleased.
// A controller calls it when it can no longer renew its lease. Safe to call repeatedly, and it
// wins over an Abort racing with it (the tables stay).
func (w *Worker) Release() error {
	w.released.Store(true)
	select {
	case <-w.done:
		return nil
	default:
	}
	if err := syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("ghost: kill worker: %w", err)
	}
	<-w.done
	return nil
}

// Wait blocks until the worker has finished and returns the outcome: nil only when the rename
// happened and the table has the expected shape; ErrAborted, *WorkerError, *ShapeMismatchError or
// ErrRenamedBeforeAbort otherwise.
func (w *Worker) Wait() (Result, error) {
	<-w.done
	return w.result, w.err
}

// send writes a command and waits for the worker's acknowledgement.
func (w *Worker) send(c command) error {
	_, err := w.sendFor(context.Background(), c)
	return err
}

// sendFor writes a command and returns the worker's acknowledgement.
func (w *Worker) sendFor(ctx context.Context, c command) (ackResult, error) {
	select {
	case <-w.done:
		return ackResult{}, ErrNotRunning
	default:
	}
	c.ID = w.nextID.Add(1)
	ack := make(chan ackResult, 1)
	w.acksMu.Lock()
	w.acks[c.ID] = ack
	w.acksMu.Unlock()
	line, err := json.Marshal(c)
	if err != nil {
		return ackResult{}, fmt.Errorf("ghost: encode command: %w", err)
	}
	w.stdinMu.Lock()
	_, err = w.stdin.Write(append(line, '\n'))
	w.stdinMu.Unlock()
	if err != nil {
		return ackResult{}, fmt.Errorf("%w: %w", ErrNotRunning, err)
	}
	timer := time.NewTimer(commandTimeout)
	defer timer.Stop()
	select {
	case r := <-ack:
		return r, r.err
	case <-w.done:
		return ackResult{}, ErrNotRunning
	case <-ctx.Done():
		return ackResult{}, ctx.Err()
	case <-timer.C:
		return ackResult{}, fmt.Errorf("ghost: worker did not acknowledge %s within %s", c.Op, commandTimeout)
	}
}

// logTail returns about the last n lines of the log file.
func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const maxTail = 8 * 1024
	if st, err := f.Stat(); err == nil && st.Size() > maxTail {
		_, _ = f.Seek(st.Size()-maxTail, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
