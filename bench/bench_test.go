package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ghostgate/ghostgate/internal/loadgen"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/runner/ghost"
)

// TestMain lets the test binary be its own gh-ost worker: ghost.Start re-executes it.
func TestMain(m *testing.M) {
	ghost.MaybeRunWorker()
	goleak.VerifyTestMain(m)
}

// The workload and the change every strategy is measured with.
const (
	alterClause  = "MODIFY k BIGINT NOT NULL DEFAULT 0" // INT → BIGINT: a full table copy
	fgRate       = 400                                  // foreground operations per second
	fgWorkers    = 8
	baselineTime = 10 * time.Second
	// settle is how long the foreground runs before and after each migration, so that the start
	// and the cut-over are both inside the window measured.
	settle = time.Second
	// ghostDeadline bounds the gh-ost copy so that a stuck run cannot eat the bench's time box.
	ghostDeadline = 10 * time.Minute
)

// rowsToSeed is 2,000,000 unless GG_BENCH_ROWS says otherwise (a quick trial run).
func rowsToSeed(b *testing.B) int64 {
	if s := os.Getenv("GG_BENCH_ROWS"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		require.NoError(b, err, "GG_BENCH_ROWS")
		return n
	}
	return 2_000_000
}

// ghostChunks are the gh-ost chunk sizes measured: $GG_BENCH_GHOST_CHUNKS (comma-separated), by
// default gh-ost's default 1000 and a larger 5000, to show the wall-time / latency trade-off.
func ghostChunks(b *testing.B) []int64 {
	spec := os.Getenv("GG_BENCH_GHOST_CHUNKS")
	if spec == "" {
		spec = "1000,5000"
	}
	var out []int64
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		require.NoError(b, err, "GG_BENCH_GHOST_CHUNKS")
		out = append(out, n)
	}
	return out
}

// BenchmarkOnlineAlter measures, side by side in one run, each strategy's wall time on a fresh
// seeded table and what a fixed-rate foreground workload of point reads and updates saw meanwhile,
// and prints the comparison table. Run it once: -benchtime 1x.
func BenchmarkOnlineAlter(b *testing.B) {
	out, err := exec.Command("bash", "ensure-tools.sh").CombinedOutput()
	require.NoError(b, err, "%s", out)
	rows := rowsToSeed(b)
	d := sandboxtest.New(b)
	ctx := context.Background()

	var results []outcome
	strategies := []strategy{
		{name: "no migration", run: func(context.Context, *sandboxtest.DB, string) error {
			time.Sleep(baselineTime)
			return nil
		}},
		{name: "ALGORITHM=COPY", run: nativeCopy},
		{name: "pt-online-schema-change", run: ptOSC},
	}
	for _, chunk := range ghostChunks(b) {
		strategies = append(strategies, strategy{
			name: fmt.Sprintf("gh-ost (ghostgate, chunk %d)", chunk),
			run: func(ctx context.Context, d *sandboxtest.DB, table string) error {
				return ghostEngine(ctx, d, table, chunk)
			}})
	}
	for i, s := range strategies {
		b.Run(s.name, func(b *testing.B) {
			table := fmt.Sprintf("bench_%d", i)
			o := measure(ctx, b, d, table, rows, s)
			results = append(results, o)
			if o.err != nil {
				b.Errorf("%s: %v", s.name, o.err)
				return
			}
			b.ReportMetric(o.wall.Seconds(), "wall-s")
			b.ReportMetric(ms(o.fg.All.P99), "p99-ms")
			b.ReportMetric(float64(o.fg.All.Errors), "errors")
			b.ReportMetric(ms(o.fg.MaxStall), "stall-ms")
		})
	}
	fmt.Printf("\nOnline ALTER `%s` on %d rows, foreground %d ops/s (%d workers, point reads + updates), %d CPUs\n\n",
		alterClause, rows, fgRate, fgWorkers, runtime.NumCPU())
	fmt.Print(formatTable(results))
}

// strategy is one way of applying alterClause to table.
type strategy struct {
	name string
	run  func(ctx context.Context, d *sandboxtest.DB, table string) error
}

// outcome is what one strategy measured.
type outcome struct {
	name     string
	baseline bool // the no-migration reference
	rows     int64
	wall     time.Duration
	fg       loadgen.Stats
	err      error
}

// measure seeds table, waits for the replica, starts the foreground workload, runs the strategy
// and stops the workload shortly after it ends.
func measure(ctx context.Context, b *testing.B, d *sandboxtest.DB, table string, rows int64, s strategy) outcome {
	spec := loadgen.Simple(table)
	require.NoError(b, loadgen.Create(ctx, d.Primary, spec))
	t0 := time.Now()
	require.NoError(b, loadgen.Seed(ctx, d.Primary, spec, rows))
	d.WaitReplica(b)
	b.Logf("%s: seeded %d rows and caught up the replica in %s", table, rows, time.Since(t0).Round(time.Millisecond))

	fg := sandboxtest.Open(b, d.Env.Primary.DSN(d.Name))
	fg.SetMaxOpenConns(fgWorkers + 2)
	fg.SetMaxIdleConns(fgWorkers + 2)
	w, err := loadgen.NewWriter(fg, loadgen.Config{
		Spec: spec, Workers: fgWorkers, Mix: loadgen.Mix{Read: 1, Update: 1}, Rate: fgRate,
		Untracked: true, KeyRange: rows, OpTimeout: 5 * time.Minute,
	})
	require.NoError(b, err)
	require.NoError(b, w.Start(ctx))
	time.Sleep(settle)

	b.ResetTimer()
	start := time.Now()
	runErr := s.run(ctx, d, table)
	wall := time.Since(start)
	b.StopTimer()

	time.Sleep(settle)
	res, err := w.Stop()
	require.NoError(b, err)
	if runErr == nil && s.name != "no migration" {
		runErr = checkAltered(ctx, d.Primary, table, rows)
	}
	d.WaitReplica(b) // the next timing starts with the replica caught up
	dropTable(ctx, b, d.Primary, table)
	b.Logf("%s: %s in %s; foreground %s", s.name, table, wall.Round(time.Millisecond), res.Stats)
	return outcome{name: s.name, baseline: s.name == "no migration", rows: rows, wall: wall, fg: res.Stats, err: runErr}
}

// checkAltered makes sure a strategy that reported success really changed the table and kept
// every row, so that no figure is printed for a migration that did not happen.
func checkAltered(ctx context.Context, db *sql.DB, table string, rows int64) error {
	var typ string
	var n int64
	err := db.QueryRowContext(ctx, `SELECT COLUMN_TYPE FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'k'`, table).Scan(&typ)
	if err != nil {
		return fmt.Errorf("read the new column type: %w", err)
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+loadgen.Quote(table)).Scan(&n); err != nil {
		return fmt.Errorf("count rows: %w", err)
	}
	if typ != "bigint(20)" || n != rows {
		return fmt.Errorf("after the migration k is %s and the table has %d rows, want bigint(20) and %d", typ, n, rows)
	}
	return nil
}

// dropTable frees the disk and buffer pool a finished table holds before the next one is seeded.
func dropTable(ctx context.Context, b *testing.B, db *sql.DB, table string) {
	_, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+loadgen.Quote(table))
	require.NoError(b, err)
}

// nativeCopy is the blocking lower bound: the server copies the table itself, writes wait.
func nativeCopy(ctx context.Context, d *sandboxtest.DB, table string) error {
	_, err := d.Primary.ExecContext(ctx, "ALTER TABLE "+loadgen.Quote(table)+" "+alterClause+", ALGORITHM=COPY")
	return err
}

// ptOSC runs pt-online-schema-change against the sandbox primary. --recursion-method=hosts finds
// the replica through SHOW SLAVE HOSTS (the sandbox sets report-host/port), so pt-osc watches its
// lag as gh-ost does; --no-version-check keeps it from calling home.
func ptOSC(ctx context.Context, d *sandboxtest.DB, table string) error {
	p := d.Env.Primary
	dsn := fmt.Sprintf("h=%s,P=%d,u=%s,p=%s,D=%s,t=%s", p.Host, p.Port, p.User, p.Password, d.Name, table)
	cmd := exec.CommandContext(ctx, "pt-online-schema-change", "--alter", alterClause, "--execute",
		"--no-version-check", "--recursion-method=hosts", "--charset=utf8mb4", dsn)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pt-online-schema-change: %w\n%s", err, out)
	}
	return nil
}

// ghostEngine runs gh-ost v1.1.6 through ghostgate's engine (runner/ghost) with its defaults but
// the chunk size, reading the binlog from the replica, and lets it cut over as soon as the copy is
// done.
func ghostEngine(ctx context.Context, d *sandboxtest.DB, table string, chunk int64) error {
	dir, err := os.MkdirTemp("", "gg-bench-")
	if err != nil {
		return err
	}
	spec := ghost.Spec{
		MigrationID: "bench-" + table + "-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		Schema:      d.Name, Table: table, Alter: alterClause,
		Primary: ghost.Endpoint(d.Env.Primary), Replica: ghost.Endpoint(d.Env.Replica),
		DropOldTable: true, ChunkSize: chunk,
		WorkDir: filepath.Clean(dir),
	}
	w, err := ghost.Start(ctx, spec)
	if err != nil {
		return err
	}
	// No gate here: cut over as soon as the copy is done. CutOver is sent at Ready rather than
	// up front because gh-ost re-creates the postpone flag file when it starts (migrator.go),
	// which undoes an early CutOver.
	select {
	case <-w.Ready():
		if err := w.CutOver(0); err != nil {
			_ = w.Abort()
			return err
		}
	case <-w.Done():
	case <-time.After(ghostDeadline):
		_ = w.Abort()
		return fmt.Errorf("gh-ost not ready after %s (worker log kept in %s)", ghostDeadline, spec.LogFile())
	}
	if _, err := w.Wait(); err != nil {
		return fmt.Errorf("%w (worker log kept in %s)", err, spec.LogFile())
	}
	return os.RemoveAll(dir)
}
