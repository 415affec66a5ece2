package ghost

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/github/gh-ost/go/base"
	golog "github.com/openark/golib/log"
)

// workerLogger is gh-ost's base.Logger in the worker: one timestamped line per message in the
// worker log. It replaces gh-ost's default logger for two reasons:
//   - that logger's Info(args...) hands golib the extra arguments as one slice, so every status
//     line came out as "Copy: 0/1994245 0.0%!;(MISSING)" (go/base/default_logger.go; gh-ost
//     escapes one '%' of the status before calling Info, go/logic/migrator.go printStatus);
//   - golib's Fatal exits the process. In v1.1.10 the library's errors return through Migrate,
//     and the few Fatal calls left (go/logic/applier.go, an impossible cut-over type) return here
//     as errors too, so the worker always reports how Migrate ended.
type workerLogger struct {
	mu    sync.Mutex
	out   io.Writer
	level golog.LogLevel
	// written counts the bytes the log took; lost, when set, hears once of the first write that
	// failed (a full disk: ENOSPC), so that a truncated log is reported, not silent (issue 13).
	written int64
	lost    func(err error, written int64)
	failed  bool
}

var _ base.Logger = (*workerLogger)(nil)

func newWorkerLogger(out io.Writer) *workerLogger {
	return &workerLogger{out: out, level: golog.INFO}
}

func (l *workerLogger) line(level golog.LogLevel, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if level > l.level {
		return
	}
	n, err := fmt.Fprintf(l.out, "%s %s %s\n", time.Now().Format("2006-01-02 15:04:05.000"), level, msg)
	l.written += int64(n)
	if err != nil && !l.failed {
		l.failed = true
		if l.lost != nil {
			l.lost(err, l.written)
		}
	}
}

// message formats args as golib does: a leading string is a format for the rest.
func message(args []any) string {
	if len(args) == 0 {
		return ""
	}
	if f, ok := args[0].(string); ok {
		return fmt.Sprintf(f, args[1:]...)
	}
	return fmt.Sprint(args...)
}

func (l *workerLogger) Debug(args ...any)            { l.line(golog.DEBUG, message(args)) }
func (l *workerLogger) Debugf(f string, args ...any) { l.line(golog.DEBUG, fmt.Sprintf(f, args...)) }
func (l *workerLogger) Info(args ...any)             { l.line(golog.INFO, message(args)) }
func (l *workerLogger) Infof(f string, args ...any)  { l.line(golog.INFO, fmt.Sprintf(f, args...)) }

func (l *workerLogger) Warning(args ...any) error { return l.fail(golog.WARNING, message(args)) }
func (l *workerLogger) Warningf(f string, args ...any) error {
	return l.fail(golog.WARNING, fmt.Sprintf(f, args...))
}
func (l *workerLogger) Error(args ...any) error { return l.fail(golog.ERROR, message(args)) }
func (l *workerLogger) Errorf(f string, args ...any) error {
	return l.fail(golog.ERROR, fmt.Sprintf(f, args...))
}
func (l *workerLogger) Errore(err error) error {
	if err == nil {
		return nil
	}
	l.line(golog.ERROR, err.Error())
	return err
}
func (l *workerLogger) Fatal(args ...any) error { return l.fail(golog.FATAL, message(args)) }
func (l *workerLogger) Fatalf(f string, args ...any) error {
	return l.fail(golog.FATAL, fmt.Sprintf(f, args...))
}
func (l *workerLogger) Fatale(err error) error {
	if err == nil {
		return nil
	}
	l.line(golog.FATAL, err.Error())
	return err
}

// SetLevel is gh-ost's --debug/--verbose; the worker keeps INFO unless told.
func (l *workerLogger) SetLevel(level golog.LogLevel) {
	l.mu.Lock()
	l.level = level
	l.mu.Unlock()
}

// SetPrintStackTrace is accepted and ignored: errors carry their own context.
func (l *workerLogger) SetPrintStackTrace(bool) {}

func (l *workerLogger) fail(level golog.LogLevel, msg string) error {
	l.line(level, msg)
	return errors.New(msg)
}
