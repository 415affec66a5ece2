package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/loadgen"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/runner/ghost"
)

// The cut-over benchmark (issue 8 item 5): many real gh-ost cut-overs of a small table, idle and
// under the foreground load, each timed from the permit to the verified rename.
const (
	cutOverRows = 20_000
	// gateHold is how long each run waits at the gate before the permit, as a gate's checks
	// would: the cut-over starts from gh-ost's steady postponing state, not right after the copy.
	gateHold = 300 * time.Millisecond
)

// cutOverRuns is 40 per scenario unless GG_BENCH_CUTOVERS says otherwise.
func cutOverRuns(b *testing.B) int {
	if s := os.Getenv("GG_BENCH_CUTOVERS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(b, err, "GG_BENCH_CUTOVERS")
		return n
	}
	return 40
}

// cutOverSample is one measured cut-over.
type cutOverSample struct {
	lock     time.Duration // Result.LockDuration: LOCK TABLES until the rename completed
	duration time.Duration // CutOver() until Wait returned a verified rename
}

// cutOverScenario is what one scenario measured.
type cutOverScenario struct {
	name    string
	samples []cutOverSample
	failed  []string
	fg      *loadgen.Stats // nil when idle
}

// BenchmarkCutOver runs cutOverRuns gh-ost migrations of a 20,000-row table per scenario (idle;
// the foreground workload of BenchmarkOnlineAlter; idle with the binlog read on the primary) and
// prints min/median/p99/max of the table
// lock time and of the cut-over duration. Run it once: -benchtime 1x.
func BenchmarkCutOver(b *testing.B) {
	d := sandboxtest.New(b)
	ctx := context.Background()
	runs := cutOverRuns(b)
	var scenarios []cutOverScenario
	// gh-ost reads the binlog from the replica by default, so the "events up to the lock" marker it
	// waits for with the table locked must replicate first; the on-primary scenario shows that
	// share of the lock.
	for _, sc := range []struct {
		name              string
		loaded, onPrimary bool
	}{
		{name: "idle"},
		{name: fmt.Sprintf("foreground %d ops/s", fgRate), loaded: true},
		{name: "idle, binlog read on the primary", onPrimary: true},
	} {
		name := sc.name
		b.Run(strings.NewReplacer(" ", "_", ",", "").Replace(name), func(b *testing.B) {
			s := measureCutOvers(ctx, b, d, name, sc.loaded, sc.onPrimary, runs)
			scenarios = append(scenarios, s)
			if len(s.failed) > 0 {
				b.Errorf("%s: %d of %d runs failed; first: %s", name, len(s.failed), runs, s.failed[0])
			}
			if len(s.samples) > 0 {
				b.ReportMetric(ms(maxOf(s.samples, func(c cutOverSample) time.Duration { return c.lock })), "max-lock-ms")
				b.ReportMetric(ms(pct(sortedBy(s.samples, func(c cutOverSample) time.Duration { return c.duration }), 0.99)), "p99-cutover-ms")
			}
		})
	}
	fmt.Printf("\ngh-ost cut-over of a %d-row table, %d runs per scenario (`MODIFY k` INT ↔ BIGINT, permit after %s at the gate)\n\n",
		cutOverRows, runs, gateHold)
	fmt.Print(formatCutOvers(scenarios))
}

// measureCutOvers seeds a table, optionally starts the foreground workload on it, and runs the
// migrations one after another, alternating the column type so that each is a real change.
func measureCutOvers(ctx context.Context, b *testing.B, d *sandboxtest.DB, name string, loaded, onPrimary bool, runs int) cutOverScenario {
	table := "cutover_idle"
	switch {
	case loaded:
		table = "cutover_load"
	case onPrimary:
		table = "cutover_prim"
	}
	spec := loadgen.Simple(table)
	require.NoError(b, loadgen.Create(ctx, d.Primary, spec))
	require.NoError(b, loadgen.Seed(ctx, d.Primary, spec, cutOverRows))
	require.NoError(b, loadgen.Analyze(ctx, d.Primary, table))
	d.WaitReplica(b)
	defer dropTable(ctx, b, d.Primary, table)

	out := cutOverScenario{name: name}
	var fg *loadgen.Writer
	if loaded {
		pool := sandboxtest.Open(b, d.Env.Primary.DSN(d.Name))
		pool.SetMaxOpenConns(fgWorkers + 2)
		pool.SetMaxIdleConns(fgWorkers + 2)
		var err error
		fg, err = loadgen.NewWriter(pool, loadgen.Config{
			Spec: spec, Workers: fgWorkers, Mix: loadgen.Mix{Read: 1, Update: 1}, Rate: fgRate,
			Untracked: true, KeyRange: cutOverRows, OpTimeout: time.Minute,
		})
		require.NoError(b, err)
		require.NoError(b, fg.Start(ctx))
		time.Sleep(settle)
	}
	b.ResetTimer()
	for i := range runs {
		alter := "MODIFY k BIGINT NOT NULL DEFAULT 0"
		if i%2 == 1 {
			alter = "MODIFY k INT NOT NULL DEFAULT 0"
		}
		s, err := cutOverOnce(ctx, d, table, alter, onPrimary, i)
		if err != nil {
			out.failed = append(out.failed, fmt.Sprintf("run %d: %v", i+1, err))
			continue
		}
		b.Logf("%s run %d: lock %s, cut-over %s", name, i+1, s.lock.Round(time.Microsecond), s.duration.Round(time.Microsecond))
		out.samples = append(out.samples, s)
	}
	b.StopTimer()
	if fg != nil {
		time.Sleep(settle)
		res, err := fg.Stop()
		require.NoError(b, err)
		out.fg = &res.Stats
		b.Logf("%s: foreground %s", name, res.Stats)
	}
	return out
}

// cutOverOnce runs one migration to the gate, holds it there for gateHold, permits the cut-over
// and times it until Wait returns the verified rename.
func cutOverOnce(ctx context.Context, d *sandboxtest.DB, table, alter string, onPrimary bool, i int) (cutOverSample, error) {
	dir, err := os.MkdirTemp("", "gg-co-")
	if err != nil {
		return cutOverSample{}, err
	}
	spec := ghost.Spec{
		MigrationID: fmt.Sprintf("co-%s-%d-%s", table, i, strconv.FormatInt(time.Now().UnixNano(), 36)),
		Schema:      d.Name, Table: table, Alter: alter,
		Primary: ghost.Endpoint(d.Env.Primary), Replica: ghost.Endpoint(d.Env.Replica),
		WorkDir: filepath.Clean(dir), // the old table is kept, as by default: dropped after the timing
	}
	if onPrimary {
		spec.OnPrimary, spec.Replica = true, ghost.Endpoint{}
	}
	w, err := ghost.Start(ctx, spec)
	if err != nil {
		return cutOverSample{}, err
	}
	select {
	case <-w.Ready():
	case <-w.Done():
		_, err := w.Wait()
		return cutOverSample{}, fmt.Errorf("ended before the gate: %w (log kept in %s)", err, spec.LogFile())
	case <-time.After(ghostDeadline):
		_ = w.Abort()
		return cutOverSample{}, fmt.Errorf("not at the gate after %s (log kept in %s)", ghostDeadline, spec.LogFile())
	}
	time.Sleep(gateHold)
	start := time.Now()
	if err := permit(w); err != nil {
		_ = w.Abort()
		return cutOverSample{}, err
	}
	res, err := w.Wait()
	took := time.Since(start)
	if err != nil {
		return cutOverSample{}, fmt.Errorf("%w (log kept in %s)", err, spec.LogFile())
	}
	if res.OldTable != "" {
		if _, err := d.Primary.ExecContext(ctx, "DROP TABLE "+loadgen.Quote(res.OldTable)); err != nil {
			return cutOverSample{}, fmt.Errorf("drop the old table: %w", err)
		}
	}
	if os.Getenv("GG_BENCH_KEEP_LOGS") == "" {
		_ = os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "cut-over log: %s (lock %s, cut-over %s)\n", spec.LogFile(), res.LockDuration, took)
	}
	return cutOverSample{lock: res.LockDuration, duration: took}, nil
}

// permit lets the worker cut over now (the engine's API of this version: a default-length permit).
func permit(w *ghost.Worker) error { return w.CutOver(0) }

func sortedBy(s []cutOverSample, f func(cutOverSample) time.Duration) []time.Duration {
	out := make([]time.Duration, len(s))
	for i, x := range s {
		out[i] = f(x)
	}
	slices.Sort(out)
	return out
}

func maxOf(s []cutOverSample, f func(cutOverSample) time.Duration) time.Duration {
	v := sortedBy(s, f)
	return v[len(v)-1]
}

// pct is the nearest-rank percentile of sorted values: with 40 samples p99 is the largest.
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p*float64(len(sorted)) + 0.999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// formatCutOvers prints one line per scenario and measure.
func formatCutOvers(scenarios []cutOverScenario) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tmeasure\truns\tfailed\tmin\tmedian\tp99\tmax\tover target\t")
	for _, s := range scenarios {
		for _, m := range []struct {
			name   string
			of     func(cutOverSample) time.Duration
			target time.Duration
		}{
			{"table lock", func(c cutOverSample) time.Duration { return c.lock }, 100 * time.Millisecond},
			{"cut-over", func(c cutOverSample) time.Duration { return c.duration }, 300 * time.Millisecond},
		} {
			v := sortedBy(s.samples, m.of)
			over := 0
			for _, x := range v {
				if x > m.target {
					over++
				}
			}
			if len(v) == 0 {
				fmt.Fprintf(tw, "%s\t%s\t0\t%d\t-\t-\t-\t-\t-\t\n", s.name, m.name, len(s.failed))
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%d (> %s)\t\n", s.name, m.name, len(v), len(s.failed),
				msString(v[0]), msString(pct(v, 0.5)), msString(pct(v, 0.99)), msString(v[len(v)-1]), over, m.target)
		}
		if s.fg != nil {
			fmt.Fprintf(tw, "%s\tforeground\t%d ops\t%d errors\tp50 %s\tp99 %s\tmax %s\tmax stall %s\t\t\n", s.name,
				s.fg.All.Count, s.fg.All.Errors, msString(s.fg.All.P50), msString(s.fg.All.P99), msString(s.fg.All.Max), msString(s.fg.MaxStall))
		}
	}
	_ = tw.Flush()
	return b.String()
}

func TestCutOverPercentiles(t *testing.T) {
	var v []time.Duration
	for i := 1; i <= 40; i++ {
		v = append(v, time.Duration(i)*time.Millisecond)
	}
	require.Equal(t, 20*time.Millisecond, pct(v, 0.5))
	require.Equal(t, 40*time.Millisecond, pct(v, 0.99), "nearest rank: 40 samples have no p99 below the max")
	require.Equal(t, time.Millisecond, pct(v, 0))
	require.Equal(t, 5*time.Millisecond, pct([]time.Duration{5 * time.Millisecond}, 0.99))

	got := formatCutOvers([]cutOverScenario{{name: "idle", samples: []cutOverSample{
		{lock: 10 * time.Millisecond, duration: 100 * time.Millisecond},
		{lock: 150 * time.Millisecond, duration: 400 * time.Millisecond},
	}, failed: []string{"x"}}})
	require.Regexp(t, `idle\s+table lock\s+2\s+1\s+10.00 ms\s+10.00 ms\s+150.00 ms\s+150.00 ms\s+1 \(> 100ms\)`, got)
	require.Regexp(t, `idle\s+cut-over\s+2\s+1\s+100.00 ms\s+100.00 ms\s+400.00 ms\s+400.00 ms\s+1 \(> 300ms\)`, got)
}
