package e2e_test

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/internal/loadgen"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner/ghost"
	"github.com/ghostgate/ghostgate/store"
)

// fleetLease is the lease of the controllers in these tests: short, so a takeover is quick.
const fleetLease = 4 * time.Second

// controllerProc is one `migrate serve` process of a fleet.
type controllerProc struct {
	cmd *exec.Cmd
	out *lockedBuffer
	api *client.Client
	url string // the API's base URL
}

// startController starts `migrate serve` as controller name on d's primary, its state in stateDB.
func startController(t *testing.T, bin string, d *sandboxtest.DB, name, stateDB, tokenFile string, extra ...string) *controllerProc {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	work, err := os.MkdirTemp("", "ggf")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(work) })
	cmd := exec.Command(bin, "serve", "--listen", addr, "--token-file", tokenFile, "--approval", "auto",
		"-P", strconv.Itoa(d.Env.Primary.Port), "-u", d.Env.Primary.User, "-d", d.Name, "--replica", d.Env.Replica.Addr(),
		"--work-dir", work, "--state-database", stateDB, "--nice-ratio", "1", "--chunk-time", "0", "--chunk-size", "500",
		"--checksum=false", // see TestServeResumesAfterKill: every row is checked against the writer's model instead
		"--controller-id", name, "--lease", fleetLease.String(), "--heartbeat-interval", "500ms", "--claim-interval", "500ms")
	cmd.Args = append(cmd.Args, extra...) // later flags win
	cmd.Env = append(os.Environ(), "GHOSTGATE_PASSWORD="+d.Env.Primary.Password)
	p := &controllerProc{cmd: cmd, out: &lockedBuffer{}, url: "http://" + addr}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	p.api, err = client.New("http://"+addr, token, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	}, time.Minute, 50*time.Millisecond, "serve %s did not come up: %s", name, p.out)
	return p
}

// TestFleetTakeoverAfterKill: three `migrate serve` processes on one state database, manual
// approval, a 500k-row table. Commands sent to one that does not own the migration (chunk size,
// approve) are handed to the owner. kill -9 of the owner at ~40% of the copy: one of the others
// claims the migration once the lease has expired and resumes it from gh-ost's checkpoint (the ghost table
// is not reset) with the approval kept as recorded; the migration completes, exactly once cut
// over, and the table equals the writer's model on the primary and the replica.
func TestFleetTakeoverAfterKill(t *testing.T) {
	const rows = 500_000
	ctx := context.Background()
	d, spec := seededItems(t, rows)
	bin := buildMigrate(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
	stateDB := stateDatabase(t, d, "_ggf_")
	ghostRows := ghostRowsOf(d)

	w := itemsWriter(t, d, spec, 17)

	a := startController(t, bin, d, "ctl-a", stateDB, tokenFile, "--approval", "manual")
	b := startController(t, bin, d, "ctl-b", stateDB, tokenFile, "--approval", "manual")
	c := startController(t, bin, d, "ctl-c", stateDB, tokenFile, "--approval", "manual")
	// A gate limit of the request's own (the controllers have none by default): the taker must use it.
	views, err := a.api.Create(ctx, client.CreateRequest{DDL: "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0", Schema: d.Name,
		Limits: client.Limits{MaxThreadsRunning: 77}})
	require.NoError(t, err)
	require.Len(t, views, 1)
	id := views[0].ID
	// Crawl from 40% on until gh-ost's first checkpoint (at least 10 s in), the resume point.
	require.Eventually(t, func() bool { return ghostRows() >= rows*2/5 }, 3*time.Minute, 50*time.Millisecond, "%s", a.out)
	_, err = b.api.SetChunkSize(ctx, id, 10) // through B: handed to A, the owner
	require.NoError(t, err)
	_, err = b.api.Approve(ctx, id) // handed to A as well, and recorded: it survives the takeover
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var n int
		_ = d.Primary.QueryRow("SELECT COUNT(*) FROM " + ghost.CheckpointTable("items")).Scan(&n)
		return n > 0
	}, 3*time.Minute, 50*time.Millisecond, "no checkpoint: %s", a.out)
	atKill := ghostRows()
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGKILL))
	_ = a.cmd.Wait()
	killed := time.Now()

	var v client.MigrationView
	var taker *controllerProc
	require.Eventually(t, func() bool {
		for _, p := range []*controllerProc{b, c} {
			if v, err = p.api.Get(ctx, id); err == nil && v.Live {
				taker = p
				return true
			}
		}
		return false
	}, fleetLease+time.Minute, 100*time.Millisecond, "nobody took over: %s\n%s", b.out, c.out)
	took := time.Since(killed)
	require.True(t, strings.HasPrefix(v.Lease.Owner, "ctl-b:") || strings.HasPrefix(v.Lease.Owner, "ctl-c:"), "%+v", v.Lease)
	require.Equal(t, int64(2), v.Lease.Token)
	require.GreaterOrEqual(t, ghostRows(), atKill-atKill/50, "the takeover must not reset the ghost table (%d rows at the kill)", atKill)
	require.Equal(t, int64(10), v.ChunkSize, "the size set through B before the kill goes on with the new owner: %+v", v)
	require.Eventually(t, func() bool { // once the resumed worker runs
		_, err = taker.api.SetChunkSize(ctx, id, 2000)
		return err == nil
	}, time.Minute, 100*time.Millisecond, "chunk size: %v", lazy(func() string { return fmt.Sprint(err) }))

	require.Eventually(t, func() bool {
		v, err = taker.api.Get(ctx, id)
		return err == nil && v.Status.Terminal()
	}, 3*time.Minute, 200*time.Millisecond, "%s", taker.out)
	require.Equal(t, migration.StatusComplete, v.Status, "%+v\n%s", v, taker.out)
	require.NotNil(t, v.Checklist, "B's gate checked the migration")
	threads, ok := v.Checklist.Line(cutover.LineThreadsRunning)
	require.True(t, ok, "B's gate checks the request's threads limit (the controllers' defaults have none)")
	require.Equal(t, "<= 77", threads.Limit, "the gate B built is the one the migration was submitted with")
	t.Logf("killed the owner at %d of %d rows; the other controller took over %v after the kill (lease %v) and completed it",
		atKill, rows, took.Round(10*time.Millisecond), fleetLease)

	evs, err := taker.api.Events(ctx, id, 0, 0)
	require.NoError(t, err)
	takeovers, cutovers, kept := 0, 0, false
	for _, e := range evs.Events {
		kept = kept || strings.Contains(e.Message, "(recorded before the takeover)")
		if e.Kind == store.EventTakeOver {
			takeovers++
		}
		if e.Kind == store.EventTransition && strings.Contains(string(e.Data), `"to":"cutting_over"`) {
			cutovers++
		}
	}
	require.Equal(t, 1, takeovers)
	require.Equal(t, 1, cutovers, "exactly one controller cut over, once")
	require.True(t, kept, "the approval given before the kill was kept, not asked again")

	res, err := w.Stop()
	require.NoError(t, err)
	require.Empty(t, res.Anomalies)
	d.WaitReplica(t)
	for name, db := range map[string]*sql.DB{"primary": d.Primary, "replica": d.Replica} {
		diff, err := loadgen.Verify(ctx, db, spec.Table, res.Model)
		require.NoError(t, err, name)
		require.True(t, diff.Empty(), "%s: %s", name, diff)
	}
}

// TestFleetHandOverOnShutdown: SIGTERM to the controller owning a migration in the middle of its
// copy, with --on-shutdown handover: it stops its worker with the checkpoint kept and releases
// the lease, and the other controller resumes the migration at once, long before the lease
// would have expired; the migration completes and the table equals the writer's model.
func TestFleetHandOverOnShutdown(t *testing.T) {
	const rows = 100_000
	const lease = 60 * time.Second // a takeover before it has expired can only be the handover
	ctx := context.Background()
	d, spec := seededItems(t, rows)
	bin := buildMigrate(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
	stateDB := stateDatabase(t, d, "_ggh_")
	ghostRows := ghostRowsOf(d)
	w, err := loadgen.NewWriter(d.Primary, loadgen.Config{Spec: spec, Workers: 2,
		Mix: loadgen.Mix{Insert: 3, Update: 4, Delete: 2, Read: 1}, Rate: 100, FirstSeq: 10_000_000, RandSeed: 19})
	require.NoError(t, err)
	require.NoError(t, w.Start(ctx))

	flags := []string{"--lease", lease.String(), "--heartbeat-interval", "2s", "--on-shutdown", "handover"}
	a := startController(t, bin, d, "ctl-a", stateDB, tokenFile, flags...)
	b := startController(t, bin, d, "ctl-b", stateDB, tokenFile, flags...)
	views, err := a.api.Create(ctx, client.CreateRequest{DDL: "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0", Schema: d.Name})
	require.NoError(t, err)
	id := views[0].ID
	require.Eventually(t, func() bool { return ghostRows() >= rows/3 }, 3*time.Minute, 50*time.Millisecond, "%s", a.out)
	_, err = a.api.SetChunkSize(ctx, id, 10)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var n int
		_ = d.Primary.QueryRow("SELECT COUNT(*) FROM " + ghost.CheckpointTable("items")).Scan(&n)
		return n > 0
	}, 3*time.Minute, 50*time.Millisecond, "no checkpoint: %s", a.out)
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, a.cmd.Wait(), "%s", a.out)
	stopped := time.Now()
	atStop := ghostRows()
	require.Contains(t, a.out.String(), "handed over migration "+id)

	var v client.MigrationView
	require.Eventually(t, func() bool {
		v, err = b.api.Get(ctx, id)
		return err == nil && v.Live
	}, lease/2, 100*time.Millisecond, "B never took over: %s", b.out)
	t.Logf("the other controller resumed the migration %v after the owner's SIGTERM (lease %v)", time.Since(stopped).Round(10*time.Millisecond), lease)
	require.Equal(t, int64(2), v.Lease.Token)
	require.GreaterOrEqual(t, ghostRows(), atStop-atStop/50, "the handover must not reset the ghost table")
	require.Equal(t, int64(10), v.ChunkSize, "the size set on A goes on with B: %+v", v)
	require.Eventually(t, func() bool { // once the resumed worker runs
		_, err = b.api.SetChunkSize(ctx, id, 2000)
		return err == nil
	}, time.Minute, 100*time.Millisecond, "chunk size: %v", lazy(func() string { return fmt.Sprint(err) }))
	require.Eventually(t, func() bool {
		v, err = b.api.Get(ctx, id)
		return err == nil && v.Status.Terminal()
	}, 3*time.Minute, 200*time.Millisecond, "%s", b.out)
	require.Equal(t, migration.StatusComplete, v.Status, "%+v\n%s", v, b.out)

	res, err := w.Stop()
	require.NoError(t, err)
	require.Empty(t, res.Anomalies)
	d.WaitReplica(t)
	for name, db := range map[string]*sql.DB{"primary": d.Primary, "replica": d.Replica} {
		diff, err := loadgen.Verify(ctx, db, spec.Table, res.Model)
		require.NoError(t, err, name)
		require.True(t, diff.Empty(), "%s: %s", name, diff)
	}
}
