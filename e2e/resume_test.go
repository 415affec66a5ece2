package e2e_test

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/loadgen"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/runner/ghost"
)

// buildMigrate compiles bin/migrate for tests that run it as a process of its own.
// seededItems is a database of its own with loadgen's "items" table of rows rows, analysed, and
// the replica caught up.
func seededItems(t *testing.T, rows int64) (*sandboxtest.DB, loadgen.Spec) {
	t.Helper()
	ctx := context.Background()
	d := sandboxtest.New(t)
	spec := loadgen.Simple("items")
	require.NoError(t, loadgen.Create(ctx, d.Primary, spec))
	require.NoError(t, loadgen.Seed(ctx, d.Primary, spec, rows))
	require.NoError(t, loadgen.Analyze(ctx, d.Primary, spec.Table))
	d.WaitReplica(t)
	return d, spec
}

// ghostRowsOf counts the rows of the ghost table of d's "items" (0 while there is none).
func ghostRowsOf(d *sandboxtest.DB) func() int64 {
	return func() int64 {
		var n int64
		_ = d.Primary.QueryRow("SELECT COUNT(*) FROM " + ghost.GhostTable("items")).Scan(&n)
		return n
	}
}

// stateDatabase names a state database of the test's own (prefix + its database), dropped at
// the end.
func stateDatabase(t *testing.T, d *sandboxtest.DB, prefix string) string {
	t.Helper()
	name := prefix + d.Name
	if len(name) > 64 {
		name = name[:64]
	}
	t.Cleanup(func() { _, _ = d.Primary.Exec("DROP DATABASE IF EXISTS `" + name + "`") })
	return name
}

// itemsWriter starts the tests' mixed, modelled writer on spec at 200 ops/s.
func itemsWriter(t *testing.T, d *sandboxtest.DB, spec loadgen.Spec, seed uint64) *loadgen.Writer {
	t.Helper()
	w, err := loadgen.NewWriter(d.Primary, loadgen.Config{Spec: spec, Workers: 4,
		Mix: loadgen.Mix{Insert: 3, Update: 4, Delete: 2, Read: 1}, Rate: 200, FirstSeq: 10_000_000, RandSeed: seed})
	require.NoError(t, err)
	require.NoError(t, w.Start(context.Background()))
	return w
}

func buildMigrate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "migrate")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/ghostgate/ghostgate/cmd/migrate").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// TestRunResumeAfterKill: `migrate run` killed with SIGKILL at ~40% of a 500k-row copy, after a
// checkpoint. Running the same change again without --resume says what to do and changes
// nothing; a different change is refused with the reason; `--resume` continues from the
// checkpoint (the ghost table is not reset) and the table equals the writer's model on the
// primary and the replica.
func TestRunResumeAfterKill(t *testing.T) {
	const rows = 500_000
	ctx := context.Background()
	d, spec := seededItems(t, rows)
	bin := buildMigrate(t)
	work, err := os.MkdirTemp("", "ggk")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(work) })

	w := itemsWriter(t, d, spec, 11)

	change := "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0"
	migrate := func(extra ...string) *exec.Cmd {
		args := append([]string{"run", "--yes", "-P", strconv.Itoa(d.Env.Primary.Port), "-u", d.Env.Primary.User, "-d", d.Name,
			"--replica", d.Env.Replica.Addr(), "--work-dir", work, "--nice-ratio", "4",
			// A fixed, small chunk and a nice ratio of 4 (the copy runs a fifth of the time): the
			// copy must still run at gh-ost's first checkpoint (10 s). With nice ratio 1 a quiet
			// box copied the 500k rows in 8 s once the apply loop no longer slept a second at the
			// start, and no checkpoint came.
			"--chunk-time", "0", "--chunk-size", "500"}, extra...)
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "GHOSTGATE_PASSWORD="+d.Env.Primary.Password)
		return cmd
	}
	ghostRows := ghostRowsOf(d)
	checkpoints := func() int {
		var n int
		_ = d.Primary.QueryRow("SELECT COUNT(*) FROM " + ghost.CheckpointTable("items")).Scan(&n)
		return n
	}

	// 1. The run, killed at ~40% once gh-ost has checkpointed.
	first := migrate(change)
	firstOut := &lockedBuffer{}
	first.Stdout, first.Stderr = firstOut, firstOut
	require.NoError(t, first.Start())
	began := time.Now()
	require.Eventually(t, func() bool { return ghostRows() >= rows*2/5 && checkpoints() > 0 }, 3*time.Minute, 50*time.Millisecond,
		"no checkpoint at 40%%: %s", firstOut)
	atKill := ghostRows()
	killedAfter := time.Since(began)
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()
	require.Less(t, atKill, int64(rows), "killed before the copy ended")

	// 2. Again without --resume (no terminal): refused with what to do; nothing changes.
	out, err := migrate(change).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "pass --resume to continue it from gh-ost's checkpoint", "%s", out)
	// A reset would bring it near zero; the writer's own deletes, which gh-ost applies to the ghost
	// table too, may take away a few rows between the two counts.
	require.GreaterOrEqual(t, ghostRows(), atKill-atKill/50, "the resume must not reset the ghost table (%d rows at the kill)", atKill)

	// 3. A different change on the table: refused with the reason.
	out, err = migrate("--resume", "ALTER TABLE items ADD COLUMN z INT").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "of a different change", "%s", out)

	// 3b. cleanup says the dead run can resume, and does not drop its copy in bulk.
	cleanup := func(args ...string) ([]byte, error) {
		cmd := exec.Command(bin, append([]string{"cleanup", "-P", strconv.Itoa(d.Env.Primary.Port), "-u", d.Env.Primary.User}, args...)...)
		cmd.Env = append(os.Environ(), "GHOSTGATE_PASSWORD="+d.Env.Primary.Password)
		return cmd.CombinedOutput()
	}
	out, err = cleanup("-d", d.Name)
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "resumable from its checkpoint", "%s", out)
	out, err = cleanup("--schema", d.Name, "--table", "items", "--yes")
	require.Error(t, err)
	require.Contains(t, string(out), "can resume from its checkpoint", "%s", out)
	require.GreaterOrEqual(t, ghostRows(), atKill-atKill/50, "cleanup dropped nothing")

	// 4. --resume: the copy goes on from the checkpoint.
	resumed := migrate("--resume", change)
	resOut := &lockedBuffer{}
	resumed.Stdout, resumed.Stderr = resOut, resOut
	resumedAt := time.Now()
	require.NoError(t, resumed.Start())
	require.Eventually(t, func() bool { return strings.Contains(resOut.String(), "resuming migration") }, time.Minute, 20*time.Millisecond)
	// A reset would bring it near zero; the writer's own deletes, which gh-ost applies to the ghost
	// table too, may take away a few rows between the two counts.
	require.GreaterOrEqual(t, ghostRows(), atKill-atKill/50, "the resume must not reset the ghost table (%d rows at the kill)", atKill)
	require.NoError(t, resumed.Wait(), "%s", resOut)
	took := time.Since(resumedAt)
	t.Logf("killed after %s at %d of %d rows; the resumed run (copy of the rest and cut-over) took %s",
		killedAfter.Round(time.Millisecond), atKill, rows, took.Round(time.Millisecond))

	res, err := w.Stop()
	require.NoError(t, err)
	require.Empty(t, res.Anomalies)
	d.WaitReplica(t)
	for name, db := range map[string]*sql.DB{"primary": d.Primary, "replica": d.Replica} {
		diff, err := loadgen.Verify(ctx, db, spec.Table, res.Model)
		require.NoError(t, err, name)
		require.True(t, diff.Empty(), "%s: %s", name, diff)
	}
	require.Equal(t, "bigint(20)", d.ColumnType(t, "items", "k"))
}
