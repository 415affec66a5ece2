package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ghostgate/ghostgate/internal/loadgen"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/runner/chunk"
	"github.com/ghostgate/ghostgate/runner/ghost"
)

// TestMain lets the test binary be its own gh-ost worker (ghost.Start re-executes it) and the
// foreground workload's process (loadchild_test.go).
func TestMain(m *testing.M) {
	maybeRunLoadChild()
	ghost.MaybeRunWorker()
	goleak.VerifyTestMain(m)
}

// The change every strategy is measured with, and the workload's shape.
const (
	alterClause = "MODIFY k BIGINT NOT NULL DEFAULT 0" // INT → BIGINT: a full table copy
	fgWorkers   = 8
	// fgRate is BenchmarkCutOver's foreground rate (cutover_test.go); BenchmarkOnlineAlter's
	// rates are its scenarios' (GG_BENCH_RATES).
	fgRate       = 400
	baselineTime = 10 * time.Second
	// settle is how long the foreground runs before and after each migration, so that the start
	// and the cut-over are both inside the window measured.
	settle = time.Second
	// ghostDeadline bounds a gh-ost run so that a stuck run cannot eat the bench's time box.
	ghostDeadline = 10 * time.Minute
)

// scenario is one table of the report: a table size and a foreground rate (0: idle).
type scenario struct {
	rows int64
	rate int
}

func (s scenario) String() string {
	if s.rate == 0 {
		return fmt.Sprintf("idle, %d rows", s.rows)
	}
	return fmt.Sprintf("%d ops/s foreground, %d rows", s.rate, s.rows)
}

// scenarios are the report's tables (issue 12): idle at $GG_BENCH_IDLE_ROWS (2M and 4M) and
// under $GG_BENCH_RATES (400 and 1500 ops/s) at $GG_BENCH_LOAD_ROWS (2M). GG_BENCH_ROWS sets both
// sizes at once (a quick trial run); an empty list skips that half.
func scenarios(b *testing.B) []scenario {
	idle, load := envInts(b, "GG_BENCH_IDLE_ROWS", "2000000,4000000"), envInts(b, "GG_BENCH_LOAD_ROWS", "2000000")
	if os.Getenv("GG_BENCH_ROWS") != "" {
		idle = envInts(b, "GG_BENCH_ROWS", "")
		load = idle[:1]
	}
	var out []scenario
	for _, n := range idle {
		out = append(out, scenario{rows: n})
	}
	for _, n := range load {
		for _, r := range envInts(b, "GG_BENCH_RATES", "400,1500") {
			out = append(out, scenario{rows: n, rate: int(r)})
		}
	}
	return out
}

// envInts reads a comma-separated list of integers from the environment, def when unset.
func envInts(b *testing.B, name, def string) []int64 {
	v, ok := os.LookupEnv(name)
	if !ok {
		v = def
	}
	var out []int64
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.ParseInt(f, 10, 64)
		require.NoError(b, err, "%s=%q", name, v)
		out = append(out, n)
	}
	return out
}

// strategies are the tools measured, $GG_BENCH_TOOLS (comma-separated names) or all of them.
func strategies(b *testing.B) []strategy {
	all := []strategy{
		{name: "ALGORITHM=COPY", key: "copy", run: nativeCopy},
		{name: "pt-online-schema-change", key: "pt-osc", run: ptOSC},
		{name: "ghostgate, before issue 12 (chunk 1000 fixed, binlog unfiltered)", key: "ghostgate-fixed", run: ghostgateRun(chunk.Config{Fixed: true}, unfiltered, exactRowCount)},
		{name: "ghostgate, binlog unfiltered", key: "ghostgate-unfiltered", run: ghostgateRun(chunk.Config{}, unfiltered)},
		{name: "ghostgate, apply batch by backlog", key: "ghostgate-adaptive-batch", run: ghostgateRun(chunk.Config{}, adaptiveBatch)},
		{name: "ghostgate, defaults (chunks by time)", key: "ghostgate", run: ghostgateRun(chunk.Config{})},
		{name: "ghostgate, --chunk-max-lock-wait 200ms", key: "ghostgate-lockwait-200ms", run: ghostgateRun(chunk.Config{MaxLockWait: 200 * time.Millisecond})},
		{name: "ghostgate, --exact-rowcount", key: "ghostgate-exact-rowcount", run: ghostgateRun(chunk.Config{}, exactRowCount)},
		{name: "ghostgate, --nice-ratio 1", key: "ghostgate-nice-1", run: ghostgateRun(chunk.Config{}, niceRatio(1))},
		{name: "ghostgate, --nice-ratio 4", key: "ghostgate-nice-4", run: ghostgateRun(chunk.Config{}, niceRatio(4))},
	}
	want := os.Getenv("GG_BENCH_TOOLS")
	if want == "" {
		return all
	}
	var out []strategy
	for _, k := range strings.Split(want, ",") {
		found := false
		for _, s := range all {
			if s.key == strings.TrimSpace(k) {
				out, found = append(out, s), true
			}
		}
		require.True(b, found, "GG_BENCH_TOOLS: unknown tool %q (copy, pt-osc, ghostgate-fixed, ghostgate-unfiltered, ghostgate-adaptive-batch, ghostgate, ghostgate-lockwait-200ms, ghostgate-exact-rowcount, ghostgate-nice-1, ghostgate-nice-4)", k)
	}
	return out
}

// BenchmarkOnlineAlter measures, side by side in one run, each tool's wall time and CPU time on a
// freshly seeded table, idle and under a fixed-rate foreground workload of point reads and
// updates, and prints one comparison table per scenario. Run it once: -benchtime 1x.
func BenchmarkOnlineAlter(b *testing.B) {
	out, err := exec.Command("bash", "ensure-tools.sh").CombinedOutput()
	require.NoError(b, err, "%s", out)
	d := sandboxtest.New(b)
	ctx := context.Background()
	meter, err := newCPUMeter(ctx, d.Primary, d.Replica)
	require.NoError(b, err)
	tools := strategies(b)
	var report strings.Builder
	n := 0
	for _, sc := range scenarios(b) {
		run := tools
		if sc.rate > 0 {
			run = append([]strategy{{name: "no migration", key: "none", run: func(context.Context, *sandboxtest.DB, string) (string, error) {
				time.Sleep(baselineTime)
				return "", nil
			}}}, tools...)
		}
		var results []outcome
		for _, s := range run {
			n++
			b.Run(fmt.Sprintf("%s/%s", sc, s.key), func(b *testing.B) {
				o := measure(ctx, b, d, meter, fmt.Sprintf("bench_%d", n), sc, s)
				results = append(results, o)
				if o.err != nil {
					b.Errorf("%s: %v", s.name, o.err)
					return
				}
				b.ReportMetric(o.wall.Seconds(), "wall-s")
				b.ReportMetric(o.cpu.total().Seconds(), "cpu-s")
			})
		}
		fmt.Fprintf(&report, "\n%s: ALTER TABLE … %s, %d CPUs\n\n%s", sc, alterClause, runtime.NumCPU(), formatTable(results, sc.rate > 0))
	}
	fmt.Print(report.String())
}

// strategy is one way of applying alterClause to table.
type strategy struct {
	name, key string
	// run applies the change; note (may be empty) says how it went, for the log.
	run func(ctx context.Context, d *sandboxtest.DB, table string) (note string, err error)
}

// outcome is what one strategy measured.
type outcome struct {
	name     string
	baseline bool // the no-migration reference
	rows     int64
	wall     time.Duration
	catchUp  time.Duration // the replica's own catch-up after the tool returned
	cpu      cpuUse
	fg       loadgen.Stats
	err      error
}

// measure seeds table, waits for the replica, starts the foreground workload (if any), runs the
// strategy, waits for the replica again (that wait is the catch-up) and stops the workload.
func measure(ctx context.Context, b *testing.B, d *sandboxtest.DB, meter cpuMeter, table string, sc scenario, s strategy) outcome {
	spec := loadgen.Simple(table)
	require.NoError(b, loadgen.Create(ctx, d.Primary, spec))
	t0 := time.Now()
	require.NoError(b, loadgen.Seed(ctx, d.Primary, spec, sc.rows))
	require.NoError(b, loadgen.Analyze(ctx, d.Primary, spec.Table))
	d.WaitReplica(b)
	b.Logf("%s: seeded %d rows and caught up the replica in %s", table, sc.rows, time.Since(t0).Round(time.Millisecond))

	var load *loadChild
	if sc.rate > 0 {
		var err error
		load, err = startLoadChild(loadArgs{DSN: d.Env.Primary.DSN(d.Name), Table: table, Rows: sc.rows, Rate: sc.rate, Workers: fgWorkers})
		require.NoError(b, err)
		time.Sleep(settle)
	}
	loadCPU := func() time.Duration {
		if load == nil {
			return 0
		}
		c, err := load.cpu()
		require.NoError(b, err)
		return c
	}
	before, err := meter.sample()
	require.NoError(b, err)
	loadBefore := loadCPU()
	b.ResetTimer()
	start := time.Now()
	note, runErr := s.run(ctx, d, table)
	wall := time.Since(start)
	b.StopTimer()
	caught := time.Now()
	d.WaitReplica(b) // the replica's own catch-up: the hidden cost of a blocking ALTER
	catchUp := time.Since(caught)
	after, err := meter.sample()
	require.NoError(b, err)
	loadUsed := loadCPU() - loadBefore

	var fgStats loadgen.Stats
	if load != nil {
		time.Sleep(settle)
		fgStats, err = load.stop() // reaped after the sample: its CPU is not a child's of the run
		require.NoError(b, err)
	}
	if runErr == nil && s.key != "none" {
		runErr = checkAltered(ctx, d.Primary, table, sc.rows)
	}
	d.WaitReplica(b) // the next timing starts with the replica caught up
	dropTable(ctx, b, d.Primary, table)
	o := outcome{name: s.name, baseline: s.key == "none", rows: sc.rows, wall: wall, catchUp: catchUp,
		cpu: attribute(s.key, after.sub(before)), fg: fgStats, err: runErr}
	o.cpu.load = loadUsed
	stallAt := "" // where the longest stall fell, from the tool's start: the copy, or the cut-over (the note's)
	if load != nil && !fgStats.Began.IsZero() {
		at := fgStats.Began.Add(fgStats.MaxStallEnd - fgStats.MaxStall).Sub(start)
		stallAt = fmt.Sprintf(" (began at %+.1fs)", at.Seconds())
	}
	b.Logf("%s: %s in %s (replica caught up %s later); CPU %s; foreground %s%s%s %s", s.name, table,
		wall.Round(time.Millisecond), catchUp.Round(time.Millisecond), o.cpu, fgStats, stallAt, byOp(fgStats), note)
	return o
}

// byOp is the foreground's p99 and p99.9 per kind of operation: reads wait only for the CPU,
// updates also for the copy's row locks, so the two apart say which of them a p99 is made of.
func byOp(st loadgen.Stats) string {
	var b strings.Builder
	for _, op := range []loadgen.Op{loadgen.OpRead, loadgen.OpUpdate, loadgen.OpInsert, loadgen.OpDelete} {
		if l, ok := st.ByOp[op]; ok && l.Count > 0 {
			fmt.Fprintf(&b, "; %s p99 %s p99.9 %s max %s (%d)", op, l.P99, l.P999, l.Max, l.Count)
		}
	}
	return b.String()
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
func nativeCopy(ctx context.Context, d *sandboxtest.DB, table string) (string, error) {
	_, err := d.Primary.ExecContext(ctx, "ALTER TABLE "+loadgen.Quote(table)+" "+alterClause+", ALGORITHM=COPY")
	return "", err
}

// ptOSC runs pt-online-schema-change against the sandbox primary. --recursion-method=hosts finds
// the replica through SHOW SLAVE HOSTS (the sandbox sets report-host/port), so pt-osc watches its
// lag as gh-ost does; --no-version-check keeps it from calling home.
func ptOSC(ctx context.Context, d *sandboxtest.DB, table string) (string, error) {
	p := d.Env.Primary
	dsn := fmt.Sprintf("h=%s,P=%d,u=%s,p=%s,D=%s,t=%s", p.Host, p.Port, p.User, p.Password, d.Name, table)
	cmd := exec.CommandContext(ctx, "pt-online-schema-change", "--alter", alterClause, "--execute",
		"--no-version-check", "--recursion-method=hosts", "--charset=utf8mb4", dsn)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("pt-online-schema-change: %w\n%s", err, out)
	}
	return "", nil
}
