package native

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner/throttle"
)

func TestMain(m *testing.M) { sandboxtest.Main(m) }

// events collects reports safely.
type events struct {
	mu  sync.Mutex
	all []Event
}

func (e *events) add(ev Event) { e.mu.Lock(); e.all = append(e.all, ev); e.mu.Unlock() }

func (e *events) snapshot() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.all...)
}

func (e *events) phases() []migration.Phase {
	var out []migration.Phase
	for _, ev := range e.snapshot() {
		out = append(out, ev.Phase)
	}
	return out
}

// count is the number of reports with phase p.
func (e *events) count(p migration.Phase) int {
	n := 0
	for _, ev := range e.snapshot() {
		if ev.Phase == p {
			n++
		}
	}
	return n
}

func setup(t *testing.T) *sandboxtest.DB {
	t.Helper()
	d := sandboxtest.New(t)
	d.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY, c INT NOT NULL)", "INSERT INTO t VALUES (1, 1), (2, 2), (3, 3)")
	return d
}

func hasColumn(t *testing.T, d *sandboxtest.DB, col string) bool {
	t.Helper()
	var n int
	require.NoError(t, d.Primary.QueryRow(`SELECT COUNT(*) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 't' AND COLUMN_NAME = ?`, d.Name, col).Scan(&n))
	return n == 1
}

// holdTable opens a transaction that reads t and leaves it open: it holds a shared metadata
// lock on t until commit. It returns the holder's connection and its id.
func holdTable(t *testing.T, d *sandboxtest.DB) (*sql.Conn, int64) {
	t.Helper()
	ctx := context.Background()
	conn, err := d.Primary.Conn(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	var id int64
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id))
	_, err = conn.ExecContext(ctx, "BEGIN")
	require.NoError(t, err)
	var n int
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n))
	return conn, id
}

func findBlocker(bs []Blocker, id int64) (Blocker, bool) {
	for _, b := range bs {
		if b.ConnID == id {
			return b, true
		}
	}
	return Blocker{}, false
}

var fast = Config{LockWaitTimeout: time.Second, InitialBackoff: 200 * time.Millisecond, MaxBackoff: 400 * time.Millisecond, MinTrxAge: 1}

func TestInstantAddColumn(t *testing.T) {
	d := setup(t)
	var ev events
	res, err := New(d.Primary, Config{}, nil).Run(context.Background(),
		"ALTER TABLE t ADD COLUMN note VARCHAR(20) NULL, ALGORITHM=INSTANT", ev.add)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Attempts)
	assert.Equal(t, AlgorithmInstant, res.Algorithm)
	assert.Empty(t, res.Blockers)
	assert.True(t, hasColumn(t, d, "note"))
	assert.Equal(t, []migration.Phase{migration.PhaseStarting, migration.PhaseAltering, migration.PhaseDone}, ev.phases())
}

// TestBlockedBacksOffThenSucceeds: a transaction holding t makes the ALTER back off; it reports
// the holder, the application's queries keep running meanwhile, and it succeeds after commit.
func TestBlockedBacksOffThenSucceeds(t *testing.T) {
	d := setup(t)
	holder, holderID := holdTable(t, d)
	ctx := context.Background()
	// The holder is busy with a statement for the first attempts, so that it shows in reports.
	busy := make(chan error, 1)
	go func() { _, err := holder.ExecContext(ctx, "SELECT SLEEP(1.5)"); busy <- err }()

	var ev events
	type outcome struct {
		res Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := New(d.Primary, fast, nil).Run(ctx, "ALTER TABLE t ADD COLUMN note INT NULL, ALGORITHM=INSTANT", ev.add)
		done <- outcome{res, err}
	}()

	// While the ALTER retries, an application reads t over and over: no read may queue for
	// much longer than one lock_wait_timeout (a plain ALTER would hold them until commit).
	stopReader := make(chan struct{})
	worst := make(chan time.Duration, 1)
	go func() {
		var slowest time.Duration
		defer func() { worst <- slowest }()
		for {
			select {
			case <-stopReader:
				return
			default:
			}
			began := time.Now()
			var n int
			if err := d.Primary.QueryRow("SELECT COUNT(*) FROM t").Scan(&n); err != nil {
				t.Errorf("application read failed: %v", err)
				return
			}
			slowest = max(slowest, time.Since(began))
			time.Sleep(50 * time.Millisecond)
		}
	}()

	require.Eventually(t, func() bool { return ev.count(migration.PhaseAltering) >= 3 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, <-busy)
	_, err := holder.ExecContext(ctx, "COMMIT")
	require.NoError(t, err)
	out := <-done
	close(stopReader)
	readWorst := <-worst

	require.NoError(t, out.err)
	assert.True(t, hasColumn(t, d, "note"))
	assert.GreaterOrEqual(t, out.res.Attempts, 3)
	b, ok := findBlocker(out.res.Blockers, holderID)
	require.True(t, ok, "holder %d not among %v", holderID, out.res.Blockers)
	assert.Equal(t, BlockerTransaction, b.Kind)
	assert.Greater(t, b.Age, time.Duration(0))

	var sawStatement, sawMessage bool
	for _, e := range ev.snapshot() {
		if b, ok := findBlocker(e.Blockers, holderID); ok && strings.Contains(b.Statement, "SLEEP(1.5)") {
			sawStatement = true
		}
		if e.Phase == migration.PhaseWaiting && strings.Contains(e.Message, "conn ") {
			sawMessage = true
		}
	}
	assert.True(t, sawStatement, "no report showed the holder's statement")
	assert.True(t, sawMessage, "no waiting message named a blocker")
	t.Logf("attempts %d, slowest application read %v", out.res.Attempts, readWorst)
	assert.Less(t, readWorst, fast.LockWaitTimeout+700*time.Millisecond, "application reads queued behind the ALTER")
}

func TestBlockedUntilDeadline(t *testing.T) {
	d := setup(t)
	_, holderID := holdTable(t, d)
	cfg := fast
	cfg.Deadline = 2500 * time.Millisecond
	began := time.Now()
	res, err := New(d.Primary, cfg, nil).Run(context.Background(), "ALTER TABLE t ADD COLUMN note INT NULL, ALGORITHM=INSTANT", nil)
	var be *BlockedError
	require.ErrorAs(t, err, &be)
	assert.Less(t, time.Since(began), cfg.Deadline+cfg.LockWaitTimeout+500*time.Millisecond)
	assert.Equal(t, d.Name, be.Schema)
	assert.Equal(t, "t", be.Table)
	assert.GreaterOrEqual(t, be.Attempts, 2)
	assert.Equal(t, be.Attempts, res.Attempts)
	_, ok := findBlocker(be.Blockers, holderID)
	assert.True(t, ok, "holder %d not named in %v", holderID, be.Blockers)
	assert.Contains(t, err.Error(), "conn ")
	var me *mysql.MySQLError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, uint16(1205), me.Number)
	assert.False(t, hasColumn(t, d, "note"))
}

func TestRefusesWithoutAlgorithm(t *testing.T) {
	d := setup(t)
	res, err := New(d.Primary, Config{}, nil).Run(context.Background(), "ALTER TABLE t ADD COLUMN note INT", nil)
	require.ErrorIs(t, err, ErrNoAlgorithm)
	assert.Equal(t, 0, res.Attempts)
	assert.False(t, hasColumn(t, d, "note"))
}

func TestServerRefusalIsFinal(t *testing.T) {
	d := setup(t)
	res, err := New(d.Primary, fast, nil).Run(context.Background(), "ALTER TABLE t MODIFY c BIGINT NOT NULL, ALGORITHM=INSTANT", nil)
	var me *mysql.MySQLError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, uint16(1846), me.Number)
	assert.Equal(t, 1, res.Attempts)
}

// TestInplaceWaitsForThrottler: an in-place change does not start while the throttler
// throttles; an INSTANT one does not wait.
func TestInplaceWaitsForThrottler(t *testing.T) {
	d := setup(t)
	thr, err := throttle.New(d.Primary, nil, throttle.Config{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- thr.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-ran) })
	thr.Pause("replicas behind")

	_, err = New(d.Primary, fast, thr).Run(ctx, "ALTER TABLE t ADD COLUMN i1 INT NULL, ALGORITHM=INSTANT", nil)
	require.NoError(t, err, "INSTANT does not wait for the throttler")

	var ev events
	done := make(chan error, 1)
	go func() {
		_, err := New(d.Primary, fast, thr).Run(ctx, "ALTER TABLE t ADD INDEX ic (c), ALGORITHM=INPLACE, LOCK=NONE", ev.add)
		done <- err
	}()
	time.Sleep(400 * time.Millisecond)
	assert.Zero(t, ev.count(migration.PhaseAltering), "started while throttled")
	var waiting Event
	for _, e := range ev.snapshot() {
		if e.Throttled {
			waiting = e
		}
	}
	assert.Equal(t, migration.PhaseWaiting, waiting.Phase)
	assert.Equal(t, "paused by operator: replicas behind", waiting.ThrottleReason)
	thr.Resume()
	require.NoError(t, <-done)
	var n int
	require.NoError(t, d.Primary.QueryRow(`SELECT COUNT(*) FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 't' AND INDEX_NAME = 'ic'`, d.Name).Scan(&n))
	assert.Equal(t, 1, n)

	thr.Pause("")
	cfg := fast
	cfg.Deadline = 1500 * time.Millisecond
	_, err = New(d.Primary, cfg, thr).Run(ctx, "ALTER TABLE t DROP INDEX ic, ALGORITHM=INPLACE", nil)
	require.ErrorIs(t, err, ErrThrottled)
}

func TestCancelKillsTheWaitingAlter(t *testing.T) {
	d := setup(t)
	holdTable(t, d)
	cfg := fast
	cfg.LockWaitTimeout = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := New(d.Primary, cfg, nil).Run(ctx, "ALTER TABLE t ADD COLUMN note INT NULL, ALGORITHM=INSTANT", nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(began), 3*time.Second)
	// The server side stopped too: no ALTER of ours is left waiting for the lock.
	require.Eventually(t, func() bool {
		var n int
		err := d.Primary.QueryRow(`SELECT COUNT(*) FROM information_schema.PROCESSLIST
			WHERE DB = ? AND INFO LIKE 'ALTER TABLE t ADD COLUMN note%'`, d.Name).Scan(&n)
		return err == nil && n == 0
	}, 2*time.Second, 50*time.Millisecond)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "defaults", cfg: Config{}},
		{name: "fractional lock wait", cfg: Config{LockWaitTimeout: 1500 * time.Millisecond}, wantErr: "lock wait timeout"},
		{name: "deadline shorter than a wait", cfg: Config{LockWaitTimeout: 5 * time.Second, Deadline: time.Second}, wantErr: "deadline"},
		{name: "backoff inverted", cfg: Config{InitialBackoff: time.Second, MaxBackoff: time.Millisecond}, wantErr: "backoff"},
		{name: "negative trx age", cfg: Config{MinTrxAge: -1}, wantErr: "transaction age"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.WithDefaults().Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestJitterRange(t *testing.T) {
	for _, d := range []time.Duration{time.Millisecond, 250 * time.Millisecond, 10 * time.Second} {
		for range 200 {
			j := jitter(d)
			require.True(t, j >= d/2 && j <= d, "jitter(%v) = %v", d, j)
		}
	}
}

func TestMergeBlockers(t *testing.T) {
	seen := mergeBlockers(nil, []Blocker{{Kind: BlockerTransaction, ConnID: 1, Age: time.Second}, {Kind: BlockerLockWaiter, ConnID: 2}})
	seen = mergeBlockers(seen, []Blocker{{Kind: BlockerTransaction, ConnID: 1, Age: 2 * time.Second}, {Kind: BlockerLockWaiter, ConnID: 3}})
	require.Len(t, seen, 3)
	assert.Equal(t, 2*time.Second, seen[0].Age)
}
