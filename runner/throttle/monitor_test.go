package throttle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

func TestMain(m *testing.M) { sandboxtest.Main(m) }

// isoEnv is this package's own pair: the tests stop replication, block the replica's SQL thread
// and count Threads_running, none of which may disturb or be disturbed by other packages.
func isoEnv(t *testing.T) sandbox.Env {
	return sandboxtest.Isolated(t, "throttle-lag")
}

// start runs m until the test ends.
func start(t *testing.T, m *Monitor) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

// waitFor polls m until pred holds, failing the test with the last decision after timeout.
func waitFor(t *testing.T, m Throttler, timeout time.Duration, what string, pred func(Decision) bool) Decision {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		d := m.Decision()
		if pred(d) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("no decision %s within %v; last: %+v", what, timeout, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isClear(d Decision) bool { return !d.Throttle }

func bySource(s Source) func(Decision) bool {
	return func(d Decision) bool { return d.Throttle && d.Source == s }
}

func threadsRunning(t *testing.T, db *sql.DB) float64 {
	t.Helper()
	v, err := readLoad(context.Background(), db, []string{"THREADS_RUNNING"})
	require.NoError(t, err)
	return v["THREADS_RUNNING"]
}

// holdSleeps runs n SELECT SLEEP(secs) queries at once and returns a func that waits for them.
func holdSleeps(t *testing.T, db *sql.DB, n int, secs float64) func() {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.Exec("SELECT SLEEP(?)", secs)
			assert.NoError(t, err)
		}()
	}
	return wg.Wait
}

func TestMaxLoadThreadsRunning(t *testing.T) {
	env := isoEnv(t)
	db := sandboxtest.Open(t, env.Primary.DSN(""))
	db.SetMaxOpenConns(20)
	limit := threadsRunning(t, db) + 3
	m, err := New(db, nil, Config{MaxLoad: []Threshold{{"Threads_running", limit}}})
	require.NoError(t, err)
	start(t, m)
	waitFor(t, m, 2*time.Second, "clear at idle", isClear)

	began := time.Now()
	wait := holdSleeps(t, db, 6, 2)
	d := waitFor(t, m, 1500*time.Millisecond, "max_load", bySource(SourceMaxLoad))
	assert.Less(t, time.Since(began), time.Second, "reaction must be well under a second")
	assert.Equal(t, "Threads_running", d.Subject)
	assert.GreaterOrEqual(t, d.Value, limit)
	assert.Equal(t, limit, d.Limit)
	assert.Contains(t, d.Reason, "max load Threads_running=")
	wait()
	waitFor(t, m, 2*time.Second, "clear after the queries end", isClear)
}

func TestCriticalLoadAfterGrace(t *testing.T) {
	env := isoEnv(t)
	db := sandboxtest.Open(t, env.Primary.DSN(""))
	db.SetMaxOpenConns(20)
	limit := threadsRunning(t, db) + 3
	grace := 500 * time.Millisecond
	m, err := New(db, nil, Config{CriticalLoad: []Threshold{{"Threads_running", limit}}, CriticalLoadGrace: grace})
	require.NoError(t, err)
	start(t, m)
	waitFor(t, m, 2*time.Second, "clear at idle", isClear)

	wait := holdSleeps(t, db, 6, 2.5)
	first := waitFor(t, m, 1500*time.Millisecond, "critical_load", bySource(SourceCriticalLoad))
	assert.False(t, first.Critical, "not critical before the grace: %s", first.Reason)
	crit := waitFor(t, m, 1500*time.Millisecond, "critical", func(d Decision) bool { return d.Critical })
	assert.GreaterOrEqual(t, crit.Since.Sub(first.Since), grace-50*time.Millisecond)
	assert.Contains(t, crit.Reason, "abort")

	var ce *CriticalError
	err = WaitUntilClear(context.Background(), m, nil)
	require.ErrorAs(t, err, &ce)
	assert.ErrorIs(t, err, ErrCritical)
	assert.Equal(t, SourceCriticalLoad, ce.Decision.Source)
	wait()
	waitFor(t, m, 2*time.Second, "clear after the load ends", isClear)
}

func replicaMonitor(t *testing.T, d *sandboxtest.DB, maxLag time.Duration) (*Monitor, string) {
	t.Helper()
	name := d.Env.Replica.Addr()
	replica := sandboxtest.Open(t, d.Env.Replica.DSN(""))
	m, err := New(d.Primary, []Replica{{Name: name, DB: replica}}, Config{MaxLag: maxLag, WriterID: t.Name()})
	require.NoError(t, err)
	start(t, m)
	waitFor(t, m, 5*time.Second, "clear once the heartbeat replicates", isClear)
	return m, name
}

func TestReplicaStoppedThrottles(t *testing.T) {
	d := sandboxtest.NewOn(t, isoEnv(t))
	d.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY, c INT)")
	m, name := replicaMonitor(t, d, 500*time.Millisecond)

	admin := sandboxtest.Open(t, d.Env.Replica.DSN(""))
	_, err := admin.Exec("STOP SLAVE SQL_THREAD")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.Exec("START SLAVE") })
	d.Exec(t, "INSERT INTO t VALUES (1, 1)")

	dec := waitFor(t, m, time.Second, "replica_stopped", bySource(SourceReplicaStopped))
	assert.Equal(t, name, dec.Subject)
	assert.Contains(t, dec.Reason, "replica "+name+" not replicating")
	assert.Contains(t, dec.Reason, "SQL=No")

	_, err = admin.Exec("START SLAVE")
	require.NoError(t, err)
	waitFor(t, m, 5*time.Second, "clear after START SLAVE", isClear)
}

// TestReplicaLagThrottles makes the replica lag while it keeps replicating: a transaction on the
// replica holds a row lock that the SQL thread needs, so it stalls and our heartbeats queue
// behind it. The SQL thread stays "Yes", so only the heartbeat can see the lag.
func TestReplicaLagThrottles(t *testing.T) {
	d := sandboxtest.NewOn(t, isoEnv(t))
	d.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY, c INT)", "INSERT INTO t VALUES (1, 1)")
	d.WaitReplica(t)
	maxLag := 400 * time.Millisecond
	m, name := replicaMonitor(t, d, maxLag)

	ctx := context.Background()
	holder, err := d.Replica.Conn(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = holder.Close() })
	_, err = holder.ExecContext(ctx, "BEGIN")
	require.NoError(t, err)
	_, err = holder.ExecContext(ctx, "SELECT * FROM t WHERE id = 1 FOR UPDATE")
	require.NoError(t, err)
	d.Exec(t, "UPDATE t SET c = c + 1 WHERE id = 1")

	dec := waitFor(t, m, 3*time.Second, "replica_lag", bySource(SourceReplicaLag))
	assert.Equal(t, name, dec.Subject)
	assert.Greater(t, dec.Value, float64(maxLag.Milliseconds()))
	assert.Equal(t, float64(maxLag.Milliseconds()), dec.Limit)
	assert.Contains(t, dec.Reason, "replica "+name+" lag ")

	_, err = holder.ExecContext(ctx, "ROLLBACK")
	require.NoError(t, err)
	waitFor(t, m, 5*time.Second, "clear once the replica catches up", isClear)
}

func TestUnreachableReplicaThrottles(t *testing.T) {
	env := isoEnv(t)
	primary := sandboxtest.Open(t, env.Primary.DSN(""))
	// Nothing listens on port 1; sql.Open does not dial, so the pool opens fine.
	dead, err := sql.Open("mysql", "u:p@tcp(127.0.0.1:1)/?timeout=200ms")
	require.NoError(t, err)
	t.Cleanup(func() { _ = dead.Close() })
	m, err := New(primary, []Replica{{Name: "dead", DB: dead}}, Config{WriterID: t.Name()})
	require.NoError(t, err)
	start(t, m)
	dec := waitFor(t, m, 2*time.Second, "unreachable", func(d Decision) bool {
		return d.Source == SourceReplicaStopped && d.Subject == "dead" && d.Reason != "replica dead not checked yet"
	})
	assert.True(t, dec.Throttle)
	assert.Contains(t, dec.Reason, "replica dead unreachable")
}

func TestManualPauseResume(t *testing.T) {
	env := isoEnv(t)
	m, err := New(sandboxtest.Open(t, env.Primary.DSN("")), nil, Config{})
	require.NoError(t, err)
	start(t, m)
	require.False(t, m.Decision().Throttle)

	changes, cancel := m.Subscribe()
	defer cancel()
	m.Pause("maintenance window")
	d := <-changes
	assert.True(t, d.Throttle)
	assert.Equal(t, SourceManual, d.Source)
	assert.Equal(t, "paused by operator: maintenance window", d.Reason)
	assert.False(t, d.Since.IsZero())

	var waited []Decision
	go func() {
		time.Sleep(200 * time.Millisecond)
		m.Resume()
	}()
	began := time.Now()
	require.NoError(t, WaitUntilClear(context.Background(), m, func(d Decision) { waited = append(waited, d) }))
	assert.GreaterOrEqual(t, time.Since(began), 150*time.Millisecond)
	require.NotEmpty(t, waited)
	assert.Equal(t, SourceManual, waited[0].Source)
	assert.False(t, m.Decision().Throttle)

	m.Pause("")
	ctx, stop := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer stop()
	assert.ErrorIs(t, WaitUntilClear(ctx, m, nil), context.DeadlineExceeded)
	m.Resume()

	assert.ErrorIs(t, m.Run(context.Background()), ErrRunning)
}

func TestHTTPCheck(t *testing.T) {
	var status atomic.Int32
	var delay atomic.Int64
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(time.Duration(delay.Load())):
		case <-r.Context().Done():
		}
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)

	env := isoEnv(t)
	m, err := New(sandboxtest.Open(t, env.Primary.DSN("")), nil, Config{HTTPURL: srv.URL, HTTPTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	start(t, m)
	waitFor(t, m, time.Second, "clear on 200", isClear)

	status.Store(http.StatusServiceUnavailable)
	d := waitFor(t, m, time.Second, "http 503", bySource(SourceHTTP))
	assert.Equal(t, float64(503), d.Value)
	assert.Contains(t, d.Reason, "returned 503")

	status.Store(http.StatusNoContent)
	waitFor(t, m, time.Second, "clear on 204", isClear)

	delay.Store(int64(time.Second))
	d = waitFor(t, m, 2*time.Second, "http timeout", bySource(SourceHTTP))
	assert.Contains(t, d.Reason, srv.URL)
	delay.Store(0)
	waitFor(t, m, 2*time.Second, "clear after the timeouts", isClear)
}

func TestNoop(t *testing.T) {
	var n Throttler = Noop{}
	assert.Equal(t, Decision{}, n.Decision())
	require.NoError(t, WaitUntilClear(context.Background(), n, func(Decision) { t.Error("noop never waits") }))
	ch, cancel := n.Subscribe()
	cancel()
	cancel()
	_, ok := <-ch
	assert.False(t, ok)
}

func TestNewRejects(t *testing.T) {
	_, err := New(nil, nil, Config{})
	require.Error(t, err)
	_, err = New(&sql.DB{}, nil, Config{Interval: time.Hour})
	require.Error(t, err)
	_, err = New(&sql.DB{}, []Replica{{Name: "r"}}, Config{})
	require.True(t, err != nil && !errors.Is(err, ErrRunning))
}

// Settled comes once every input has been read, and the decision then is the real one: an HTTP
// check answering 503 from the start says so, not "not run yet" (issue 12).
func TestSettledShowsTheFirstRealDecision(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	env := isoEnv(t)
	m, err := New(sandboxtest.Open(t, env.Primary.DSN("")), nil, Config{HTTPURL: srv.URL})
	require.NoError(t, err)
	select {
	case <-m.Settled():
		t.Fatal("settled before anything was read")
	default:
	}
	assert.Contains(t, m.Decision().Reason, "not run yet")
	start(t, m)
	select {
	case <-m.Settled():
	case <-time.After(3 * time.Second):
		t.Fatal("not settled within 3s")
	}
	assert.Contains(t, m.Decision().Reason, "returned 503")

	none, err := New(sandboxtest.Open(t, env.Primary.DSN("")), nil, Config{})
	require.NoError(t, err)
	select {
	case <-none.Settled():
	default:
		t.Fatal("a monitor with nothing to read is settled at once")
	}
}

// A fresh monitor over a healthy replica never throttles on lag: its first heartbeat cannot have
// arrived before the first reading of the replica (issue 12).
func TestNoThrottleBeforeFirstHeartbeat(t *testing.T) {
	d := sandboxtest.NewOn(t, isoEnv(t))
	for i := range 5 {
		m, err := New(d.Primary, []Replica{{Name: "r", DB: d.Replica}}, Config{WriterID: fmt.Sprintf("%s-%d", t.Name(), i)})
		require.NoError(t, err)
		changes, cancel := m.Subscribe()
		var seen []Decision
		done := make(chan struct{})
		go func() {
			defer close(done)
			for c := range changes {
				seen = append(seen, c)
			}
		}()
		ctx, stop := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		go func() { ran <- m.Run(ctx) }()
		<-m.Settled()
		time.Sleep(time.Second)
		stop()
		require.NoError(t, <-ran)
		cancel()
		<-done
		for _, c := range seen {
			assert.NotEqual(t, SourceReplicaLag, c.Source, "run %d: %s", i, c.Reason)
		}
	}
}
