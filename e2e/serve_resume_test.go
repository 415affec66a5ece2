package e2e_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/internal/loadgen"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner/ghost"
)

// lockedBuffer is a bytes.Buffer safe for a process's output and the test reading it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// lazy renders a failure message only when it is printed.
type lazy func() string

func (l lazy) String() string { return l() }

// TestServeResumesAfterKill: kill -9 of `migrate serve` at ~40% of a 500k-row copy; a restarted
// serve resumes the migration by itself from gh-ost's checkpoint (the ghost table is not reset),
// the gate opens again, the migration completes, and the table equals the writer's model on the
// primary and the replica.
func TestServeResumesAfterKill(t *testing.T) {
	const rows = 500_000
	ctx := context.Background()
	d, spec := seededItems(t, rows)
	bin := buildMigrate(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
	work, err := os.MkdirTemp("", "ggs")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(work) })
	stateDB := stateDatabase(t, d, "_ggs_")

	serve := func() (*exec.Cmd, *lockedBuffer, *client.Client) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		cmd := exec.Command(bin, "serve", "--listen", addr, "--token-file", tokenFile, "--approval", "auto",
			"-P", strconv.Itoa(d.Env.Primary.Port), "-u", d.Env.Primary.User, "-d", d.Name, "--replica", d.Env.Replica.Addr(),
			"--work-dir", work, "--state-database", stateDB, "--nice-ratio", "1",
			// A fixed, small chunk (chunks sized by time would finish it first); from 40% on the
			// test crawls with 10-row chunks until gh-ost's first checkpoint.
			"--chunk-time", "0", "--chunk-size", "500")
		cmd.Env = append(os.Environ(), "GHOSTGATE_PASSWORD="+d.Env.Primary.Password)
		out := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		c, err := client.New("http://"+addr, token, nil)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err == nil {
				_ = resp.Body.Close()
			}
			return err == nil && resp.StatusCode == http.StatusOK
		}, time.Minute, 50*time.Millisecond, "serve did not come up: %s", out)
		return cmd, out, c
	}
	ghostRows := ghostRowsOf(d)

	w := itemsWriter(t, d, spec, 13)

	first, firstOut, c := serve()
	views, err := c.Create(ctx, client.CreateRequest{DDL: "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0", Schema: d.Name})
	require.NoError(t, err)
	require.Len(t, views, 1)
	id := views[0].ID
	// Crawl from 40% on until gh-ost's first checkpoint (at least 10 s in), the resume point:
	// whatever the machine's speed, the copy is still running then.
	require.Eventually(t, func() bool { return ghostRows() >= rows*2/5 }, 3*time.Minute, 50*time.Millisecond, "%s", firstOut)
	_, err = c.SetChunkSize(ctx, id, 10)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var n int
		_ = d.Primary.QueryRow("SELECT COUNT(*) FROM " + ghost.CheckpointTable("items")).Scan(&n)
		return n > 0
	}, 3*time.Minute, 50*time.Millisecond, "no checkpoint: %s", firstOut)
	atKill := ghostRows()
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()

	_, secondOut, c2 := serve()
	require.Eventually(t, func() bool { return bytes.Contains([]byte(secondOut.String()), []byte("resumed migration "+id)) },
		time.Minute, 50*time.Millisecond, "%s", secondOut)
	// A reset would bring it near zero; the writer's own deletes, which gh-ost applies to the ghost
	// table too, may take away a few rows between the two counts.
	require.GreaterOrEqual(t, ghostRows(), atKill-atKill/50, "the resume must not reset the ghost table (%d rows at the kill)", atKill)
	var v client.MigrationView
	// The 10-row chunks set before the kill go on in the resumed run (in its event log, kept by the
	// resume), until an operator sets another size.
	v, err = c2.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, int64(10), v.ChunkSize, "%+v", v)
	require.Eventually(t, func() bool { // once the resumed worker runs
		_, err = c2.SetChunkSize(ctx, id, 2000)
		return err == nil
	}, time.Minute, 100*time.Millisecond, "chunk size: %v", lazy(func() string { return fmt.Sprint(err) }))
	require.Eventually(t, func() bool {
		v, err = c2.Get(ctx, id)
		return err == nil && v.Status.Terminal()
	}, 3*time.Minute, 200*time.Millisecond, "%s", lazy(func() string {
		cl, _ := c2.Checklist(ctx, id)
		log, _ := os.ReadFile(filepath.Join(work, id, "worker.log"))
		if len(log) > 3000 {
			log = log[len(log)-3000:]
		}
		return fmt.Sprintf("status %s\nchecklist %+v\nserve: %s\nworker log tail:\n%s", v.Status, cl, secondOut, log)
	}))
	require.Equal(t, migration.StatusComplete, v.Status, "%+v\n%s", v, secondOut)
	// The gate's checksum (on by default) ran under the writer and passed: no false mismatch
	// (issue 10), and the gate opened on it.
	cl, err := c2.Checklist(ctx, id)
	require.NoError(t, err)
	l, ok := cl.Line(cutover.LineChecksum)
	require.True(t, ok, "%+v", cl)
	require.True(t, l.OK, "%+v", l)
	require.NotContains(t, secondOut.String(), "checksum mismatch")
	t.Logf("checksum at the gate: %s %s", l.Value, l.Detail)
	t.Logf("killed serve at %d of %d rows; the restarted serve resumed and completed the migration", atKill, rows)

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
