package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/loadgen"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/runner/chunk"
	"github.com/ghostgate/ghostgate/runner/estimate"
)

// etaMarks are the progress points at which the ETA is judged (issue 12: within ±20% from 10%).
var etaMarks = []float64{0.10, 0.50}

// oldRateWindow is the worker's own rate window, the ETA ghostgate showed before issue 12.
const oldRateWindow = 5 * time.Second

// etaRun is what one migration's progress said and when it really ended.
type etaRun struct {
	reports  []migration.Progress
	copyEnd  time.Time // the first report after the copy (gh-ost postponing)
	complete time.Time // the runner's Wait returned
}

// etaErr is one judgement: the relative error of a predicted remaining time against the actual.
type etaErr struct {
	ok  bool // an ETA was given at the mark
	err float64
}

func judge(predicted, actual time.Duration) etaErr {
	if actual <= 0 {
		return etaErr{}
	}
	return etaErr{ok: true, err: (predicted.Seconds() - actual.Seconds()) / actual.Seconds()}
}

// at returns the first copying report at or past ratio q.
func (r etaRun) at(q float64) (migration.Progress, bool) {
	for _, p := range r.reports {
		if p.Phase == migration.PhaseCopying && p.Ratio >= q {
			return p, true
		}
	}
	return migration.Progress{}, false
}

// judgements at mark q: the new copy ETA against the copy's end, the new cut-over ETA against
// the migration's end, the copy ETA with the chunk ramp-up model (estimate.Config.Ramp) and the
// old 5-second-window ETA (both recomputed from the same reports) against the copy's end.
func (r etaRun) judge(q float64) (copyETA, total, withRamp, old, warm etaErr) {
	p, ok := r.at(q)
	if !ok || r.copyEnd.IsZero() {
		return
	}
	if p.ETAState == migration.ETAKnown {
		copyETA = judge(p.ETA, r.copyEnd.Sub(p.Time))
		total = judge(p.CutOverETA, r.complete.Sub(p.Time))
	}
	if eta, ok := r.replayETA(estimate.Config{Ramp: true}, p); ok {
		withRamp = judge(eta, r.copyEnd.Sub(p.Time))
	}
	if eta, ok := r.replayETA(estimate.Config{ChunkWarmup: shortChunkWarmup}, p); ok {
		warm = judge(eta, r.copyEnd.Sub(p.Time))
	}
	if eta, ok := r.oldETA(p); ok {
		old = judge(eta, r.copyEnd.Sub(p.Time))
	}
	return
}

// shortChunkWarmup is the warm-up of the replayed column "warm-up": does an ETA promised sooner
// than the default's 300ms of chunks hold? (A short copy may pass 10% within the default's.)
const shortChunkWarmup = 200 * time.Millisecond

// replayETA replays the reports up to p through an estimator with cfg (the ramp model, another
// warm-up), as the runner feeds its own (the chunk size after each report, a restart when it
// changed).
func (r etaRun) replayETA(cfg estimate.Config, p migration.Progress) (time.Duration, bool) {
	e, err := estimate.New(cfg)
	if err != nil {
		return 0, false
	}
	var size int64
	for _, q := range r.reports {
		est := e.Observe(q)
		if q.ChunkSize > 0 && q.ChunkSize != size {
			if size != 0 {
				e.Restart()
			}
			size = q.ChunkSize
			e.SetChunkSize(size)
		}
		if q.Time.Equal(p.Time) && q.RowsCopied == p.RowsCopied {
			return est.ETA, est.State == migration.ETAKnown
		}
	}
	return 0, false
}

// oldETA is what the worker's estimate said at p: rows remaining over the rate of the last 5 s.
func (r etaRun) oldETA(p migration.Progress) (time.Duration, bool) {
	var first *migration.Progress
	for i := range r.reports {
		q := &r.reports[i]
		if q.Phase == migration.PhaseCopying && p.Time.Sub(q.Time) <= oldRateWindow && !q.Time.After(p.Time) {
			first = q
			break
		}
	}
	if first == nil || !p.Time.After(first.Time) || p.RowsCopied <= first.RowsCopied {
		return 0, false
	}
	rate := float64(p.RowsCopied-first.RowsCopied) / p.Time.Sub(first.Time).Seconds()
	return time.Duration(float64(p.RowsEstimated-p.RowsCopied) / rate * float64(time.Second)).Round(time.Second), true
}

// BenchmarkETA runs $GG_BENCH_ETA_RUNS (5) ghostgate migrations with its defaults, each on a
// fresh table of $GG_BENCH_ETA_ROWS (2M) rows under $GG_BENCH_ETA_RATE (0: idle) foreground
// operations per second, and prints how far the ETA at 10% and 50% progress was from the actual
// end: the copy ETA against the copy's end, the cut-over ETA against the migration's end, and the
// old 5-second-window ETA of the same reports. Run it once: -benchtime 1x.
func BenchmarkETA(b *testing.B) {
	runs := envInts(b, "GG_BENCH_ETA_RUNS", "5")[0]
	rows := envInts(b, "GG_BENCH_ETA_ROWS", "2000000")[0]
	rate := envInts(b, "GG_BENCH_ETA_RATE", "0")[0]
	d := sandboxtest.New(b)
	ctx := context.Background()
	var all []etaRun
	for i := range runs {
		b.Run(fmt.Sprintf("run%d", i+1), func(b *testing.B) {
			r := etaMigration(ctx, b, d, fmt.Sprintf("eta_%d", i), rows, int(rate))
			all = append(all, r)
			if dir := os.Getenv("GG_BENCH_ETA_DUMP"); dir != "" {
				dumpReports(b, filepath.Join(dir, fmt.Sprintf("eta_run%d.jsonl", i+1)), r)
			}
		})
	}
	fmt.Printf("\nETA error (predicted/actual remaining − 1), ghostgate defaults, %d rows, %d ops/s, %d runs\n\n%s",
		rows, rate, runs, formatETA(all))
}

func etaMigration(ctx context.Context, b *testing.B, d *sandboxtest.DB, table string, rows int64, rate int) etaRun {
	spec := loadgen.Simple(table)
	require.NoError(b, loadgen.Create(ctx, d.Primary, spec))
	require.NoError(b, loadgen.Seed(ctx, d.Primary, spec, rows))
	require.NoError(b, loadgen.Analyze(ctx, d.Primary, spec.Table))
	d.WaitReplica(b)
	var load *loadChild
	if rate > 0 {
		var err error
		load, err = startLoadChild(loadArgs{DSN: d.Env.Primary.DSN(d.Name), Table: table, Rows: rows, Rate: rate, Workers: fgWorkers})
		require.NoError(b, err)
	}
	var mu sync.Mutex
	var r etaRun
	_, err := ghostgateMigrate(ctx, d, table, chunk.Config{}, nil, func(ev runner.Event) {
		if ev.Progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		p := *ev.Progress
		p.Time = ev.Time // when the runner saw it: the clock the end is read with
		r.reports = append(r.reports, p)
		if r.copyEnd.IsZero() && p.Phase != migration.PhaseCopying && p.Phase != migration.PhaseStarting {
			r.copyEnd = p.Time
		}
	})
	r.complete = time.Now()
	if load != nil {
		_, lerr := load.stop()
		require.NoError(b, lerr)
	}
	require.NoError(b, err)
	require.NoError(b, checkAltered(ctx, d.Primary, table, rows))
	d.WaitReplica(b)
	dropTable(ctx, b, d.Primary, table)
	mu.Lock()
	defer mu.Unlock()
	return r
}

// formatETA prints each run's errors at each mark and their median and range.
func formatETA(runs []etaRun) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "run\t"
	for _, q := range etaMarks {
		head += fmt.Sprintf("copy @%.0f%%\tcut-over @%.0f%%\tramp @%.0f%%\told @%.0f%%\twarm-up %v @%.0f%%\t", 100*q, 100*q, 100*q, 100*q, shortChunkWarmup, 100*q)
	}
	fmt.Fprintln(tw, head+"first ETA\tworst from 10%\tcopy\tcut-over tail\t")
	cols := make([][]float64, 5*len(etaMarks))
	for i, r := range runs {
		line := fmt.Sprintf("%d\t", i+1)
		for k, q := range etaMarks {
			c, t, n, o, w := r.judge(q)
			for j, e := range []etaErr{c, t, n, o, w} {
				line += etaPct(e) + "\t"
				if e.ok {
					cols[5*k+j] = append(cols[5*k+j], e.err)
				}
			}
		}
		if q, e, ok := r.firstETA(); ok {
			line += fmt.Sprintf("%s at %.0f%%\t", etaPct(e), 100*q)
		} else {
			line += "none\t"
		}
		if e, q, ok := r.worstFrom(etaMarks[0]); ok {
			line += fmt.Sprintf("%s at %.0f%%\t", etaPct(e), 100*q)
		} else {
			line += "none\t"
		}
		start := r.copyStart()
		line += fmt.Sprintf("%s\t%s\t", r.copyEnd.Sub(start).Round(100*time.Millisecond), r.complete.Sub(r.copyEnd).Round(100*time.Millisecond))
		fmt.Fprintln(tw, line)
	}
	line := "median [min … max]\t"
	for _, c := range cols {
		line += summary(c) + "\t"
	}
	fmt.Fprintln(tw, line+"\t\t\t\t")
	_ = tw.Flush()
	b.WriteString("\nthe copy ETA's range (low … high, against the actual remaining time) and whether it held the end\n\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	head = "run\t"
	for _, q := range etaMarks {
		head += fmt.Sprintf("range @%.0f%%\t", 100*q)
	}
	fmt.Fprintln(tw, head)
	held := make([]int, len(etaMarks))
	for i, r := range runs {
		line := fmt.Sprintf("%d\t", i+1)
		for k, q := range etaMarks {
			lo, hi, ok := r.etaRange(q)
			switch {
			case !ok:
				line += "no range\t"
			case lo <= 0 && hi >= 0:
				held[k]++
				line += fmt.Sprintf("%+.0f … %+.0f%% held\t", 100*lo, 100*hi)
			default:
				line += fmt.Sprintf("%+.0f … %+.0f%% missed\t", 100*lo, 100*hi)
			}
		}
		fmt.Fprintln(tw, line)
	}
	line = "held the end\t"
	for k := range etaMarks {
		line += fmt.Sprintf("%d of %d\t", held[k], len(runs))
	}
	fmt.Fprintln(tw, line)
	_ = tw.Flush()
	return b.String()
}

// firstETA is the first copy ETA the run promised (state known): the progress it came at and its
// error against the copy's end. A copy that passes 10% within the estimator's warm-up has no ETA
// at 10%; this says when it had one, and how good it was.
func (r etaRun) firstETA() (float64, etaErr, bool) {
	for _, p := range r.reports {
		if p.Phase == migration.PhaseCopying && p.ETAState == migration.ETAKnown && !r.copyEnd.IsZero() {
			return p.Ratio, judge(p.ETA, r.copyEnd.Sub(p.Time)), true
		}
	}
	return 0, etaErr{}, false
}

// worstFrom is the copy ETA's largest error (either way) over every report from progress q on
// while at least a second of copying was left (below that, whole-second ETAs are all error), and
// the progress it came at.
func (r etaRun) worstFrom(q float64) (etaErr, float64, bool) {
	var worst etaErr
	var at float64
	for _, p := range r.reports {
		left := r.copyEnd.Sub(p.Time)
		if p.Phase != migration.PhaseCopying || p.Ratio < q || p.ETAState != migration.ETAKnown || left < time.Second {
			continue
		}
		if e := judge(p.ETA, left); e.ok && (!worst.ok || math.Abs(e.err) > math.Abs(worst.err)) {
			worst, at = e, p.Ratio
		}
	}
	return worst, at, worst.ok
}

// etaRange is the copy ETA's range at mark q as errors against the actual remaining time.
func (r etaRun) etaRange(q float64) (lo, hi float64, ok bool) {
	p, found := r.at(q)
	if !found || r.copyEnd.IsZero() || p.ETAState != migration.ETAKnown || p.ETAHigh <= 0 {
		return 0, 0, false
	}
	actual := r.copyEnd.Sub(p.Time).Seconds()
	if actual <= 0 {
		return 0, 0, false
	}
	return p.ETALow.Seconds()/actual - 1, p.ETAHigh.Seconds()/actual - 1, true
}

func (r etaRun) copyStart() time.Time {
	for _, p := range r.reports {
		if p.Phase == migration.PhaseCopying {
			return p.Time
		}
	}
	return r.copyEnd
}

func etaPct(e etaErr) string {
	if !e.ok {
		return "no ETA"
	}
	return fmt.Sprintf("%+.0f%%", 100*e.err)
}

func summary(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return fmt.Sprintf("%+.0f%% [%+.0f … %+.0f%%]", 100*s[len(s)/2], 100*s[0], 100*s[len(s)-1])
}

// dumpReports writes a run's progress reports, one JSON object a line, then a last line with the
// copy's end and the migration's ($GG_BENCH_ETA_DUMP: a directory), so that an estimator can be
// replayed against real copies without running them again.
func dumpReports(b *testing.B, path string, r etaRun) {
	f, err := os.Create(path)
	require.NoError(b, err)
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, p := range r.reports {
		require.NoError(b, enc.Encode(p))
	}
	require.NoError(b, enc.Encode(map[string]time.Time{"copy_end": r.copyEnd, "complete": r.complete}))
}
