package bench

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ghostgate/ghostgate/internal/loadgen"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/runner/chunk"
	"github.com/ghostgate/ghostgate/runner/ghost"
	"github.com/ghostgate/ghostgate/runner/throttle"
	"github.com/ghostgate/ghostgate/store"
)

// benchStore is the schema holding the bench's migration state and heartbeat.
const benchStore = "_gg_bench"

// ghostgateRun runs the change as `migrate run` would: plan, the runner with the CLI's default
// throttle (Threads_running=25, lag 1.5 s, heartbeat on the replica), gh-ost in its worker
// process, cut-over as soon as the copy is done, the old table dropped. chunks says how chunks are
// sized. onEvent (may be nil) sees every event.
// The note names the chunk sizes the copy went through and the time it was throttled.
// unfiltered makes gh-ost read the binlog without the worker's filter (ghost.Spec.NoBinlogFilter).
func unfiltered(g *runner.GhostTuning) { g.NoBinlogFilter = true }

// adaptiveBatch grows gh-ost's apply batch with the backlog (runner/batch; otherwise it stays at
// gh-ost's 10 events).
func adaptiveBatch(g *runner.GhostTuning) { g.AdaptiveDMLBatch = true }

// exactRowCount has gh-ost count the table's rows as the copy starts (runner.GhostTuning.ExactRowCount).
func exactRowCount(g *runner.GhostTuning) { g.ExactRowCount = true }

// niceRatio has gh-ost sleep r times each chunk's copy time after it: the copy's speed traded for
// the foreground's latency, measured side by side with the defaults.
func niceRatio(r float64) func(*runner.GhostTuning) {
	return func(g *runner.GhostTuning) { g.NiceRatio = r }
}

func ghostgateRun(chunks chunk.Config, tune ...func(*runner.GhostTuning)) func(context.Context, *sandboxtest.DB, string) (string, error) {
	return func(ctx context.Context, d *sandboxtest.DB, table string) (string, error) {
		var mu sync.Mutex
		var path []string
		var maxBatch, maxBacklog int64
		var capacity float64
		resizes := map[string]int{}
		began := time.Now()
		var cutOver time.Duration // when the cut-over phase was first seen, from the start
		res, err := ghostgateMigrate(ctx, d, table, chunks, tune, func(ev runner.Event) {
			p := ev.Progress
			if p == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if p.Phase == migration.PhaseCutOver && cutOver == 0 {
				cutOver = ev.Time.Sub(began)
			}
			if p.ChunkSize == 0 {
				return
			}
			if s := fmt.Sprint(p.ChunkSize); len(path) == 0 || path[len(path)-1] != s {
				path = append(path, s)
				if len(path) > 1 { // a resize: count why (the reason's kind, before the colon)
					kind, _, _ := strings.Cut(p.ChunkReason, ":")
					resizes[kind]++
				}
			}
			maxBatch, maxBacklog = max(maxBatch, p.DMLBatchSize), max(maxBacklog, p.BacklogEvents)
			if p.ApplyRate > 0 {
				capacity = p.ApplyRate
			}
		})
		mu.Lock()
		defer mu.Unlock()
		var why []string
		for _, k := range slices.Sorted(maps.Keys(resizes)) {
			why = append(why, fmt.Sprintf("%s %d", k, resizes[k]))
		}
		return fmt.Sprintf("[chunks %s (resizes: %s); largest apply batch %d, backlog %d, apply capacity %.0f events/s; throttled %s; cut-over at %+.1fs, lock %s]",
			strings.Join(path, "→"), strings.Join(why, ", "), maxBatch, maxBacklog, capacity, res.ThrottledFor.Round(time.Millisecond),
			cutOver.Seconds(), res.CutOverLock.Round(time.Millisecond)), err
	}
}

// ghostgateMigrate runs the change through the runner, with the tunings applied to its gh-ost
// settings (unfiltered, adaptiveBatch).
func ghostgateMigrate(ctx context.Context, d *sandboxtest.DB, table string, chunks chunk.Config, tune []func(*runner.GhostTuning), onEvent func(runner.Event)) (runner.Result, error) {
	st, err := store.Open(ctx, d.Primary, store.Options{Database: benchStore})
	if err != nil {
		return runner.Result{}, err
	}
	ghostTuning := runner.GhostTuning{DropOldTable: true, PprofAddr: os.Getenv("GG_BENCH_WORKER_PPROF")}
	for _, f := range tune {
		f(&ghostTuning)
	}
	work, err := os.MkdirTemp("", "ggb")
	if err != nil {
		return runner.Result{}, err
	}
	defer func() {
		if os.Getenv("GG_BENCH_KEEP_LOGS") == "" {
			_ = os.RemoveAll(work)
		} else {
			fmt.Fprintf(os.Stderr, "%s: worker log in %s\n", table, work)
		}
	}()
	r, err := runner.New(runner.Config{
		Primary: ghost.Endpoint(d.Env.Primary), Replicas: []ghost.Endpoint{ghost.Endpoint(d.Env.Replica)},
		WorkDir: work, Chunk: chunks, Ghost: ghostTuning,
		Throttle: throttle.Config{MaxLoad: []throttle.Threshold{{Variable: "Threads_running", Limit: 25}},
			MaxLag: 1500 * time.Millisecond, HeartbeatSchema: benchStore},
	}, st, nil)
	if err != nil {
		return runner.Result{}, err
	}
	defer r.Close()
	p, err := planner.New(d.Primary, planner.Options{Schema: d.Name})
	if err != nil {
		return runner.Result{}, err
	}
	plans, err := p.Plan(ctx, "ALTER TABLE "+loadgen.Quote(table)+" "+alterClause)
	if err != nil {
		return runner.Result{}, err
	}
	if len(plans) != 1 || plans[0].Strategy != planner.StrategyGhost {
		return runner.Result{}, fmt.Errorf("the planner did not choose gh-ost: %+v", plans)
	}
	rctx, cancel := context.WithTimeout(ctx, ghostDeadline)
	defer cancel()
	h, err := r.Start(rctx, plans[0], runner.RunOptions{OnEvent: onEvent})
	if err != nil {
		return runner.Result{}, err
	}
	return h.Wait()
}
