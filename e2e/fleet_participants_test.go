package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/graybox"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner/ghost"
)

// phaseLog is what one participant lived through: each phase it applied, with whether the
// migration's new column existed at that moment (the rename had happened) and when.
type phaseLog struct {
	mu      sync.Mutex
	entries []string
	events  []graybox.EventKind
}

func (l *phaseLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, s)
}

func (l *phaseLog) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		if e == s {
			return true
		}
	}
	return false
}

func (l *phaseLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.entries, ", ")
}

func (l *phaseLog) saw(k graybox.EventKind) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e == k {
			return true
		}
	}
	return false
}

// TestFleetParticipantsAnyController: three `migrate serve` processes on one state database. A
// signal-mode participant (this test process) registers with B, an HTTP-mode one with C; the
// migrations are submitted through A, which owns them. A's gate delivers prepare to both (the
// signal one's through B, which signals it), the rename waits for their acks (the signal one
// holds its prepare a moment and checks that the table was not renamed meanwhile), and
// commit reaches both after it. Then B is killed with kill -9: the signal participant moves to
// C by itself (its next ControllerURL), registers there, and the next migration through A
// completes with it, delivered through C. Last, a fourth controller E that takes nothing over
// (--no-resume) holds a third participant; A is killed with its migration at the gate, C takes
// it over and its gate asks all three again, E's included, before it cuts over.
func TestFleetParticipantsAnyController(t *testing.T) {
	ctx := context.Background()
	d, _ := seededItems(t, 2000)
	bin := buildMigrate(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
	stateDB := stateDatabase(t, d, "_ggp_")
	t.Setenv("GHOSTGATE_PARTICIPANT_SECRET", string(secret))
	a := startController(t, bin, d, "ctl-a", stateDB, tokenFile)
	b := startController(t, bin, d, "ctl-b", stateDB, tokenFile)
	c := startController(t, bin, d, "ctl-c", stateDB, tokenFile)
	table := d.Name + ".items"

	hasColumn := func(col string) bool {
		var n int
		_ = d.Primary.QueryRow("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'items' AND COLUMN_NAME = ?",
			d.Name, col).Scan(&n)
		return n > 0
	}
	// handlers log each phase with whether req's column exists; the signal one holds its
	// prepare 300 ms (the gate's round lasts 2 s) and checks that the rename did not happen while it had not answered.
	handlers := func(l *phaseLog, col func(wire.PhaseRequest) string, hold time.Duration) graybox.Handlers {
		return graybox.Handlers{
			Prepare: func(ctx context.Context, req wire.PhaseRequest) error {
				before := hasColumn(col(req))
				time.Sleep(hold)
				l.add(fmt.Sprintf("%s prepare column=%v/%v", req.MigrationID, before, hasColumn(col(req))))
				return nil
			},
			Commit: func(ctx context.Context, req wire.PhaseRequest) error {
				l.add(fmt.Sprintf("%s commit column=%v", req.MigrationID, hasColumn(col(req))))
				return nil
			},
		}
	}
	cols := map[string]string{} // migration id → the column it adds
	var colsMu sync.Mutex
	colOf := func(req wire.PhaseRequest) string {
		colsMu.Lock()
		defer colsMu.Unlock()
		return cols[req.MigrationID]
	}
	base := func(p *controllerProc) string { return p.url }

	var sigLog, hookLog phaseLog
	sig, err := graybox.New(graybox.Config{ControllerURL: base(b), ControllerURLs: []string{base(c)}, Secret: secret,
		Service: "sig", InstanceID: "sig-1", Tables: []string{table}, Versions: map[string]string{table: "v1"},
		Mode: wire.ModeSignal, Heartbeat: 300 * time.Millisecond, RequestTimeout: 2 * time.Second,
		Observe: func(e graybox.Event) {
			sigLog.mu.Lock()
			sigLog.events = append(sigLog.events, e.Kind)
			sigLog.mu.Unlock()
		}},
		handlers(&sigLog, colOf, 300*time.Millisecond))
	require.NoError(t, err)
	var hook *graybox.Participant
	var others atomic.Pointer[graybox.Participant] // served under /other
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/other/") { // the path is signed: served as it is
			others.Load().Hook().ServeHTTP(w, r)
			return
		}
		hook.Hook().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	hook, err = graybox.New(graybox.Config{ControllerURL: base(c), Secret: secret, Service: "hook", InstanceID: "hook-1",
		Tables: []string{table}, Versions: map[string]string{table: "v1"}, Mode: wire.ModeHTTP, HookURL: srv.URL + wire.HookPath,
		Heartbeat: 300 * time.Millisecond}, handlers(&hookLog, colOf, 0))
	require.NoError(t, err)
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, p := range []*graybox.Participant{sig, hook} {
		wg.Go(func() { _ = p.Run(pctx) })
	}
	t.Cleanup(func() { stop(); wg.Wait() })

	// Every controller lists both, with the controller each registered with.
	controllerOf := func(p *controllerProc, id string) string {
		ps, err := p.api.Participants(ctx)
		if err != nil {
			return ""
		}
		for _, s := range ps {
			if s.InstanceID == id && s.Live {
				return s.Controller
			}
		}
		return ""
	}
	require.Eventually(t, func() bool {
		return strings.HasPrefix(controllerOf(a, "sig-1"), "ctl-b:") && strings.HasPrefix(controllerOf(a, "hook-1"), "ctl-c:") &&
			strings.HasPrefix(controllerOf(c, "sig-1"), "ctl-b:")
	}, 30*time.Second, 100*time.Millisecond, "the fleet's participants")

	// Each migration adds a column (what the participants look for) and changes one that makes
	// it a gh-ost copy, with a gate (an ADD COLUMN alone is INSTANT: no gate, no participants).
	submit := func(col, change, approval string) string {
		views, err := a.api.Create(ctx, client.CreateRequest{DDL: "ALTER TABLE items ADD COLUMN " + col + " INT NULL, " + change, Schema: d.Name,
			OldVersion: "v1", NewVersion: "v1+" + col, Approval: approval})
		require.NoError(t, err)
		id := views[0].ID
		colsMu.Lock()
		cols[id] = col
		colsMu.Unlock()
		return id
	}
	// finished waits for migration id to end (through p), checks it completed, and that its
	// commit was acknowledged by the n instances, once.
	finished := func(p *controllerProc, id string, n int) client.MigrationView {
		var v client.MigrationView
		var err error
		require.Eventually(t, func() bool {
			v, err = p.api.Get(ctx, id)
			return err == nil && v.Status.Terminal()
		}, 3*time.Minute, 200*time.Millisecond, "%s", p.out)
		require.Equal(t, migration.StatusComplete, v.Status, "%+v\n%s", v, p.out)
		require.Equal(t, "ghost", string(v.Strategy))
		evs, err := p.api.Events(ctx, id, 0, 0)
		require.NoError(t, err)
		commits := 0
		for _, e := range evs.Events {
			if strings.Contains(e.Message, fmt.Sprintf("commit acknowledged by %d of %d instance(s)", n, n)) {
				commits++
			}
		}
		require.Equal(t, 1, commits, "commit acknowledged by all %d, once: %+v", n, evs.Events)
		return v
	}
	migrate := func(col, change string) client.MigrationView {
		v := finished(a, submit(col, change, "auto"), 2)
		require.True(t, strings.HasPrefix(v.Lease.Owner, "ctl-a:"), "A owns what it was given: %+v", v.Lease)
		return v
	}

	// 1. Registered with B and C, gated by A.
	v := migrate("p1", "MODIFY k BIGINT NOT NULL DEFAULT 0")
	require.True(t, sigLog.has(v.ID+" prepare column=false/false"), "the signal participant (through B) prepared before the rename, and the rename waited for its ack: %s", &sigLog)
	require.True(t, sigLog.has(v.ID+" commit column=true"), "commit after the rename: %s", &sigLog)
	require.True(t, hookLog.has(v.ID+" prepare column=false/false") && hookLog.has(v.ID+" commit column=true"), "%s", &hookLog)

	// 2. B dies: the signal participant moves to C by itself and the next migration goes on.
	require.NoError(t, b.cmd.Process.Signal(syscall.SIGKILL))
	_ = b.cmd.Wait()
	require.Eventually(t, func() bool { return strings.HasPrefix(controllerOf(a, "sig-1"), "ctl-c:") }, 30*time.Second, 100*time.Millisecond,
		"the participant registered again with C")
	require.True(t, sigLog.saw(graybox.EventFailover))
	v = migrate("p2", "MODIFY pad CHAR(80) NOT NULL DEFAULT ''")
	require.True(t, sigLog.has(v.ID+" prepare column=false/false") && sigLog.has(v.ID+" commit column=true"),
		"through C after B's death: %s\n%s", &sigLog, c.out)

	// 3. A takeover: the new owner asks every participant again, one registered elsewhere too.
	e := startController(t, bin, d, "ctl-e", stateDB, tokenFile, "--no-resume")
	var otherLog phaseLog
	other, err := graybox.New(graybox.Config{ControllerURL: e.url, Secret: secret, Service: "other", InstanceID: "other-1",
		Tables: []string{table}, Versions: map[string]string{table: "v1"}, Mode: wire.ModeHTTP, HookURL: srv.URL + "/other" + wire.HookPath,
		Heartbeat: 300 * time.Millisecond}, handlers(&otherLog, colOf, 0))
	require.NoError(t, err)
	others.Store(other)
	wg.Go(func() { _ = other.Run(pctx) })
	require.Eventually(t, func() bool { return strings.HasPrefix(controllerOf(a, "other-1"), "ctl-e:") }, 30*time.Second, 100*time.Millisecond)
	id := submit("p3", "MODIFY pad CHAR(100) NOT NULL DEFAULT ''", "manual")
	require.Eventually(t, func() bool {
		var n int
		_ = d.Primary.QueryRow("SELECT COUNT(*) FROM " + ghost.CheckpointTable("items")).Scan(&n)
		v, err := a.api.Get(ctx, id)
		return n > 0 && err == nil && v.Status == migration.StatusReady
	}, 3*time.Minute, 100*time.Millisecond, "at the gate with a checkpoint: %s", a.out)
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGKILL))
	_ = a.cmd.Wait()
	require.Eventually(t, func() bool {
		v, err := c.api.Get(ctx, id)
		return err == nil && v.Live
	}, fleetLease+time.Minute, 100*time.Millisecond, "C took it over: %s", c.out)
	_, err = c.api.Approve(ctx, id)
	require.NoError(t, err)
	v = finished(c, id, 3)
	require.True(t, strings.HasPrefix(v.Lease.Owner, "ctl-c:") && v.Lease.Token == 2, "%+v", v.Lease)
	for _, l := range []*phaseLog{&sigLog, &hookLog, &otherLog} {
		require.True(t, l.has(id+" prepare column=false/false") && l.has(id+" commit column=true"), "asked by the new owner: %s", l)
	}
}
