package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ghostgate/ghostgate/internal/errtext"
	"github.com/ghostgate/ghostgate/metrics"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/store"
)

// runRun is `migrate run`, step by step.
func runRun(ctx context.Context, opts *RunOptions, ddl string) error {
	streams, out := opts.Plan.IO, newRunOutput(opts.Plan.IO.Out, opts.Plan.Output, opts.Progress)

	// 1. Connect and plan, exactly as `migrate plan` would.
	db, cfg, err := opts.Plan.Conn.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	popts := opts.Plan.Lint.options()
	popts.Schema = cfg.DBName
	popts.GhostCopyRate = measuredCopyRate(ctx, db, opts.StateDatabase)
	stopSample := forecastOptions(ctx, db, cfg, opts.Plan.Lint.WriteSample, opts.StateDatabase, &popts)
	pl, err := planner.New(db, popts)
	if err != nil {
		stopSample()
		return err
	}
	plans, err := pl.Plan(ctx, ddl)
	stopSample()
	if err != nil {
		return err
	}
	// 2. Show the plans; refuse blocked ones before anything runs.
	if err := out.plans(plans); err != nil {
		return err
	}
	if planner.AnyBlocked(plans) {
		return ErrBlocked
	}
	// 3. The servers: replicas given, or those the primary knows.
	replicas := opts.Replicas
	if len(replicas) == 0 && !opts.OnPrimary {
		if replicas, err = discoverReplicas(ctx, db); err != nil {
			return err
		}
		if len(replicas) == 0 {
			return usageErrorf("no replica found in SHOW SLAVE HOSTS: name one with --replica host:port, or run gh-ost on the primary with --on-primary")
		}
	}
	rcfg, err := runConfig(opts, cfg, replicas)
	if err != nil {
		return err
	}
	// 4. Confirmation (a terminal only; --yes otherwise).
	if !opts.Yes && !confirm(streams, fmt.Sprintf("Run %d migration(s) on %s?", len(plans), cfg.Addr)) {
		return fmt.Errorf("%w: not confirmed", ErrCancelled)
	}
	// 5. State, metrics, leftovers of dead runs.
	st, err := store.Open(ctx, db, store.Options{Database: opts.StateDatabase})
	if err != nil {
		return err
	}
	reg := metrics.NewRegistry()
	m := metrics.New(reg)
	if opts.MetricsAddr != "" {
		addr, stop, err := serveMetrics(opts.MetricsAddr, reg)
		if err != nil {
			return err
		}
		defer stop()
		fmt.Fprintf(streams.ErrOut, "metrics: http://%s/metrics\n", addr)
	}
	if left, err := st.Leftovers(ctx, schemasOf(plans)...); err == nil {
		out.leftovers(left)
	}
	r, err := runner.New(rcfg, st, m)
	if err != nil {
		return err
	}
	defer r.Close()
	sweepWorkDir(ctx, r, streams.ErrOut)
	if opts.TUI {
		return runWithTUI(ctx, opts, runTUIDeps{db: db, cfg: cfg, store: st, runner: r, rcfg: rcfg}, ddl)
	}
	// 6. Run the plans one after the other; stop at the first that does not complete.
	for _, p := range plans {
		var res runner.Result
		h, err := runPlan(ctx, r, db, st, p, opts, out.event, streams.ErrOut)
		if err == nil {
			res, err = h.Wait()
		}
		out.summary(p, res, err)
		switch {
		case errors.Is(err, runner.ErrCancelled):
			return fmt.Errorf("%w: %w", ErrCancelled, err)
		case res.MigrationID == "" && err != nil:
			return err // refused before it started (e.g. another migration holds the table)
		case err != nil:
			return &MigrationFailedError{Err: err}
		}
	}
	return nil
}

func schemasOf(plans []*planner.Plan) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range plans {
		if !seen[p.Schema] {
			seen[p.Schema] = true
			out = append(out, p.Schema)
		}
	}
	return out
}

// serveMetrics serves /metrics on addr until stop is called; it returns the address it listens on.
func serveMetrics(addr string, reg *prometheus.Registry) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, usageErrorf("--metrics-addr %s: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics.Handler(reg))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// runOutput prints a run as text lines or JSON lines.
type runOutput struct {
	w        io.Writer
	json     bool
	every    time.Duration
	lastLine time.Time
	enc      *json.Encoder
}

func newRunOutput(w io.Writer, format string, every time.Duration) *runOutput {
	return &runOutput{w: w, json: format == "json", every: every, enc: json.NewEncoder(w)}
}

func (o *runOutput) plans(plans []*planner.Plan) error {
	if o.json {
		return o.enc.Encode(map[string]any{"type": "plan", "plans": plans})
	}
	return planner.WriteText(o.w, plans)
}

func (o *runOutput) leftovers(left []store.Leftover) {
	for _, l := range left {
		if l.Kept() {
			continue // an undo point of a completed migration, not a leftover (issue 13)
		}
		if o.json {
			_ = o.enc.Encode(map[string]any{"type": "leftover", "leftover": l})
			continue
		}
		fmt.Fprintf(o.w, "warning: leftover of an earlier run: %s\n  clean up with: %s\n", l.Reason, l.Command)
	}
}

// event prints lifecycle and throttle changes at once and progress at most every o.every.
func (o *runOutput) event(ev runner.Event) {
	if o.json {
		_ = o.enc.Encode(map[string]any{"type": "event", "event": ev})
		return
	}
	ts := ev.Time.Format("15:04:05")
	switch ev.Kind {
	case runner.EventStatus:
		fmt.Fprintf(o.w, "%s %s  %s: %s\n", ts, short(ev.MigrationID), ev.Status, errtext.Clean(ev.Reason))
	case runner.EventThrottle, runner.EventBlocker:
		fmt.Fprintf(o.w, "%s %s  %s\n", ts, short(ev.MigrationID), errtext.Clean(ev.Reason))
	case runner.EventProgress:
		p := ev.Progress
		if time.Since(o.lastLine) < o.every && p.Phase != migration.PhaseDone {
			return
		}
		o.lastLine = time.Now()
		fmt.Fprintf(o.w, "%s %s  %s\n", ts, short(ev.MigrationID), progressLine(*p))
	}
}

func progressLine(p migration.Progress) string {
	s := fmt.Sprintf("%-10s %5.1f%%  %d/%d rows  %.0f rows/s", p.Phase, 100*p.Ratio, p.RowsCopied, p.RowsEstimated, p.RowsPerSecond)
	switch {
	case p.ETAState == migration.ETAHeld:
		s += "  ETA held" // paused or throttled: no time is promised (issue 12)
	case p.ETA > 0:
		s += "  ETA " + p.ETA.Round(time.Second).String()
		if p.ETAHigh > p.ETALow {
			s += " (" + p.ETALow.Round(time.Second).String() + "–" + p.ETAHigh.Round(time.Second).String() + ")"
		}
	}
	if p.ChunkSize > 0 && p.Phase == migration.PhaseCopying {
		s += fmt.Sprintf("  chunk %d", p.ChunkSize)
		if p.NiceRatio > 0 {
			s += fmt.Sprintf(" nice %g", p.NiceRatio) // gh-ost sleeps that many chunk times after each
		}
	}
	if p.BacklogEvents > 0 {
		s += fmt.Sprintf("  backlog %d", p.BacklogEvents)
		if p.DMLBatchSize > 0 {
			s += fmt.Sprintf(" (batch %d)", p.DMLBatchSize)
		}
	}
	if p.ReplicaLag > 0 {
		s += "  lag " + p.ReplicaLag.Round(time.Millisecond).String()
	}
	if p.Throttled {
		s += "  THROTTLED: " + p.ThrottleReason
	}
	if p.Message != "" {
		s += "  " + p.Message
	}
	return s
}

// summary is the final word on one migration.
func (o *runOutput) summary(p *planner.Plan, res runner.Result, err error) {
	if o.json {
		sum := map[string]any{"type": "summary", "schema": p.Schema, "table": p.Table, "strategy": p.Strategy,
			"migration_id": res.MigrationID, "status": res.Status, "duration_seconds": res.Duration.Seconds(),
			"rows_copied": res.RowsCopied, "throttled_seconds": res.ThrottledFor.Seconds(),
			"cut_over_seconds": res.CutOverTime.Seconds(), "cut_over_lock_seconds": res.CutOverLock.Seconds(), "old_table": res.OldTable, "attempts": res.Attempts, "cut_over_repairs": res.CutOverRepairs}
		if err != nil {
			sum["error"] = errtext.Text(err)
		}
		_ = o.enc.Encode(sum)
		return
	}
	if err != nil && res.MigrationID == "" {
		return // refused before it started: the error is printed once, by Execute
	}
	// The kept original table has a line of its own below, with what to do about it.
	sum, _, _ := strings.Cut(res.Summary(), ", original table kept as ")
	fmt.Fprintf(o.w, "\n%s.%s (%s): %s\n", p.Schema, p.Table, p.Strategy, sum)
	for _, lw := range res.CutOverRepairs {
		fmt.Fprintf(o.w, "  a write reached the old table during the cut-over: %s\n", lw)
	}
	if res.OldTable != "" {
		fmt.Fprintf(o.w, "  the original table is kept as %s.%s (drop it when you no longer need to undo)\n", p.Schema, res.OldTable)
	}
	if res.LogFile != "" && err != nil {
		fmt.Fprintf(o.w, "  gh-ost worker log: %s\n", res.LogFile)
	}
}

func short(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}

// sweepWorkDir removes the work directories of migrations that ended longer ago than
// --work-dir-retention, saying which; a failure is reported and changes nothing else.
func sweepWorkDir(ctx context.Context, r *runner.Runner, w io.Writer) {
	removed, err := r.SweepWorkDir(ctx)
	for _, d := range removed {
		fmt.Fprintf(w, "removed the work dir of an ended migration (older than --work-dir-retention): %s\n", d)
	}
	if err != nil {
		fmt.Fprintf(w, "warning: %v\n", err)
	}
}
