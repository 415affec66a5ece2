// Package native runs schema changes that the server can do without copying the table: an ALTER
// TABLE (or CREATE/DROP INDEX) with an explicit ALGORITHM=INSTANT, NOCOPY or INPLACE clause, so
// that the server refuses rather than silently degrading to a blocking COPY.
//
// The danger of such a change is not the change but its metadata lock: the ALTER needs an
// exclusive metadata lock, and while it waits for one (behind a long transaction that touched the
// table), every new query on the table queues behind the ALTER. So the engine asks for the lock
// with a short session lock_wait_timeout, backs off with jitter and retries until a deadline,
// letting the application's queries through in between, and reports who holds it up as data.
package native

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner/throttle"
)

// Config is the engine's settings, an immutable value. Zero durations mean their defaults.
type Config struct {
	// LockWaitTimeout is the session lock_wait_timeout of each attempt: the longest time the
	// application's queries on the table can queue behind the waiting ALTER. Whole seconds
	// (the server takes an integer), at least 1s. Default 2s.
	LockWaitTimeout time.Duration
	// Deadline bounds the wait for the lock, retries and throttle waits included: no attempt
	// starts after it, so the last one may wait up to LockWaitTimeout beyond it. Once the ALTER
	// holds its lock it runs to completion. Default 5m.
	Deadline time.Duration
	// InitialBackoff is the pause after the first refused attempt; it doubles up to MaxBackoff.
	// Defaults 250ms and 10s.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// MinTrxAge: without the METADATA_LOCK_INFO plugin, open transactions at least this old are
	// reported as suspected blockers. Default 1s.
	MinTrxAge time.Duration
}

// WithDefaults returns c with unset fields at their defaults.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.LockWaitTimeout, 2*time.Second)
	def(&c.Deadline, 5*time.Minute)
	def(&c.InitialBackoff, 250*time.Millisecond)
	def(&c.MaxBackoff, 10*time.Second)
	def(&c.MinTrxAge, time.Second)
	return c
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.LockWaitTimeout < time.Second || c.LockWaitTimeout%time.Second != 0 {
		errs = append(errs, fmt.Errorf("lock wait timeout %v: whole seconds, at least 1s", c.LockWaitTimeout))
	}
	if c.Deadline < c.LockWaitTimeout {
		errs = append(errs, fmt.Errorf("deadline %v: shorter than the lock wait timeout", c.Deadline))
	}
	if c.InitialBackoff <= 0 || c.MaxBackoff < c.InitialBackoff {
		errs = append(errs, fmt.Errorf("backoff %v..%v: want 0 < initial <= max", c.InitialBackoff, c.MaxBackoff))
	}
	if c.MinTrxAge < 0 {
		errs = append(errs, fmt.Errorf("min transaction age %v: negative", c.MinTrxAge))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("native: invalid config: %w", err)
	}
	return nil
}

// Executor runs native schema changes on one server.
type Executor struct {
	db     *sql.DB
	cfg    Config
	cfgErr error // a Config that failed Validate: every Run returns it
	thr    throttle.Throttler
}

// New returns an Executor. cfg gets its defaults; a cfg that fails Validate makes every Run
// return that error before touching the server. A nil thr never throttles.
func New(db *sql.DB, cfg Config, thr throttle.Throttler) *Executor {
	cfg = cfg.WithDefaults()
	if thr == nil {
		thr = throttle.Noop{}
	}
	return &Executor{db: db, cfg: cfg, cfgErr: cfg.Validate(), thr: thr}
}

// Event is one progress report of a run: the shared progress value plus, while the ALTER waits
// for its metadata lock, who holds it up.
type Event struct {
	migration.Progress
	Blockers []Blocker `json:"blockers,omitempty"`
}

// Result describes a finished run.
type Result struct {
	Algorithm Algorithm
	Attempts  int
	Duration  time.Duration
	Blockers  []Blocker // everyone seen in the way, across attempts
}

// ErrThrottled means the throttler did not clear before the deadline.
var ErrThrottled = errors.New("native: throttled until the deadline")

// BlockedError means the ALTER could not get its metadata lock before the deadline.
type BlockedError struct {
	Schema, Table string
	Attempts      int
	Waited        time.Duration
	Blockers      []Blocker
	Err           error // the last lock wait timeout (1205)
}

// Error names the table and the blockers.
func (e *BlockedError) Error() string {
	return fmt.Sprintf("native: no metadata lock on %s after %d attempts in %v: %s",
		qualified(e.Schema, e.Table), e.Attempts, e.Waited.Round(time.Millisecond), describeBlockers(e.Blockers))
}

// Unwrap returns the last server error.
func (e *BlockedError) Unwrap() error { return e.Err }

// Run executes stmt exactly as given. It refuses a statement without an explicit ALGORITHM
// clause; returns a server refusal (e.g. 1846, "ALGORITHM=INSTANT is not supported") at once;
// retries lock wait timeouts until the deadline and then returns a *BlockedError. Before an
// attempt that is not INSTANT (it may rebuild the table, and replicas replay it as one long
// statement) it waits for the throttler to clear. report (may be nil) receives progress.
func (e *Executor) Run(ctx context.Context, stmt string, report func(Event)) (Result, error) {
	began := time.Now()
	emit := func(ev Event) {
		if report != nil {
			ev.Time = time.Now()
			report(ev)
		}
	}
	if e.cfgErr != nil {
		return Result{}, e.cfgErr
	}
	st, err := parseStatement(stmt)
	if err != nil {
		return Result{}, err
	}
	res := Result{Algorithm: st.Algorithm}
	emit(Event{Progress: migration.Progress{Phase: migration.PhaseStarting, Message: "ALGORITHM=" + string(st.Algorithm)}})
	s, err := e.open(ctx, &st)
	if err != nil {
		return res, err
	}
	defer s.close()

	deadline := began.Add(e.cfg.Deadline)
	backoff := e.cfg.InitialBackoff
	for {
		if st.Algorithm != AlgorithmInstant {
			if err := e.waitThrottle(ctx, deadline, emit); err != nil {
				res.Duration = time.Since(began)
				return res, err
			}
		}
		res.Attempts++
		emit(Event{Progress: migration.Progress{Phase: migration.PhaseAltering, Message: fmt.Sprintf("attempt %d", res.Attempts)}})
		blockers, err := e.attempt(ctx, s, stmt, st, res.Attempts, emit)
		res.Blockers = mergeBlockers(res.Blockers, blockers)
		res.Duration = time.Since(began)
		switch {
		case err == nil:
			emit(Event{Progress: migration.Progress{Phase: migration.PhaseDone, Ratio: 1}})
			return res, nil
		case ctx.Err() != nil:
			return res, fmt.Errorf("native: %s: %w", qualified(st.Schema, st.Table), ctx.Err())
		case !isLockWaitTimeout(err):
			return res, fmt.Errorf("native: %s: %w", qualified(st.Schema, st.Table), err)
		}
		wait := jitter(backoff)
		if time.Now().Add(wait).After(deadline) {
			return res, &BlockedError{Schema: st.Schema, Table: st.Table, Attempts: res.Attempts, Waited: res.Duration, Blockers: blockers, Err: err}
		}
		emit(Event{Blockers: blockers, Progress: migration.Progress{Phase: migration.PhaseWaiting, Message: fmt.Sprintf(
			"metadata lock on %s busy after attempt %d, retrying in %v: %s",
			qualified(st.Schema, st.Table), res.Attempts, wait.Round(time.Millisecond), describeBlockers(blockers))}})
		if err := sleep(ctx, wait); err != nil {
			return res, fmt.Errorf("native: %s: %w", qualified(st.Schema, st.Table), err)
		}
		backoff = min(2*backoff, e.cfg.MaxBackoff)
	}
}

// session is the dedicated connection the ALTER runs on.
type session struct {
	conn   *sql.Conn
	id     int64 // CONNECTION_ID(), to exclude ourselves from blockers and to KILL QUERY
	plugin bool  // METADATA_LOCK_INFO is active
}

// open takes a dedicated connection, sets its session timeouts, and fills st.Schema from the
// connection's default database when the statement does not name one.
func (e *Executor) open(ctx context.Context, st *statement) (*session, error) {
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("native: connect: %w", err)
	}
	s := &session{conn: conn}
	if err := s.setup(ctx, e.cfg.LockWaitTimeout, st); err != nil {
		s.close()
		return nil, err
	}
	if s.plugin, err = hasMDLPlugin(ctx, e.db); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *session) setup(ctx context.Context, lockWait time.Duration, st *statement) error {
	var current string
	if err := s.conn.QueryRowContext(ctx, "SELECT CONNECTION_ID(), COALESCE(DATABASE(), '')").Scan(&s.id, &current); err != nil {
		return fmt.Errorf("native: session: %w", err)
	}
	if st.Schema == "" {
		st.Schema = current
	}
	// lock_wait_timeout bounds the wait for metadata locks only; innodb_lock_wait_timeout (row
	// locks) is irrelevant to DDL.
	if _, err := s.conn.ExecContext(ctx, "SET SESSION lock_wait_timeout = ?", int64(lockWait/time.Second)); err != nil {
		return fmt.Errorf("native: set lock_wait_timeout: %w", err)
	}
	// A server-wide max_statement_time (MariaDB) would kill a long in-place rebuild halfway: the
	// ALTER itself must not have a statement time limit. MySQL has no such variable (1193), and
	// its max_execution_time applies to SELECT only.
	if _, err := s.conn.ExecContext(ctx, "SET SESSION max_statement_time = 0"); err != nil && !isMySQLError(err, 1193) {
		return fmt.Errorf("native: set max_statement_time: %w", err)
	}
	return nil
}

// close discards the connection rather than returning it to the pool: its session settings
// (and a query we may have killed) must not leak to the pool's next user.
func (s *session) close() {
	_ = s.conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = s.conn.Close()
}

// waitThrottle waits until the throttler clears, reporting why it waits.
func (e *Executor) waitThrottle(ctx context.Context, deadline time.Time, emit func(Event)) error {
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var last throttle.Decision
	err := throttle.WaitUntilClear(wctx, e.thr, func(d throttle.Decision) {
		last = d
		emit(Event{Progress: migration.Progress{Phase: migration.PhaseWaiting, Throttled: true, ThrottleReason: d.Reason,
			Message: "waiting for the throttler before an in-place change: " + d.Reason}})
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w (%s)", ErrThrottled, last.Reason)
	default:
		return fmt.Errorf("native: waiting for the throttler: %w", err)
	}
}

func qualified(schema, table string) string {
	q := func(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
	if schema == "" {
		return q(table)
	}
	return q(schema) + "." + q(table)
}

func isMySQLError(err error, codes ...uint16) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	for _, c := range codes {
		if me.Number == c {
			return true
		}
	}
	return false
}

// isLockWaitTimeout matches ER_LOCK_WAIT_TIMEOUT (1205): the metadata lock was not granted
// within lock_wait_timeout. Everything else (1846 not supported, syntax, …) is final.
func isLockWaitTimeout(err error) bool { return isMySQLError(err, 1205) }

// jitter returns a duration in [d/2, d): equal jitter, so that retries of several engines do
// not fall into step while keeping the backoff's growth.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
