package cli

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/runner/chunk"
	"github.com/ghostgate/ghostgate/runner/ghost"
	"github.com/ghostgate/ghostgate/runner/native"
	"github.com/ghostgate/ghostgate/runner/throttle"
	"github.com/ghostgate/ghostgate/store"
)

// RunOptions are the flags of `migrate run`.
type RunOptions struct {
	Plan PlanOptions // connection, DDL input, lint overrides

	Yes    bool
	Resume bool // continue an interrupted migration of the same change from its checkpoint
	// StateDatabase is the schema on the primary holding ghostgate's state (store.DefaultDatabase).
	StateDatabase string
	Replicas      []string
	OnPrimary     bool
	WorkDir       string
	WorkDirKeep   time.Duration // how long an ended migration's work dir (its worker log) is kept
	MetricsAddr   string
	Progress      time.Duration

	MaxLoad, CriticalLoad string
	CriticalGrace         time.Duration
	MaxLag                time.Duration
	ThrottleHTTP          string
	// ServiceHealth: serve's flags only (participants register with serve); zero: off.
	ServiceHealth ServiceHealthOptions

	ChunkSize          int64
	ChunkTime          time.Duration
	ChunkMaxLockWait   time.Duration
	DMLBatchSize       int64
	AdaptiveDMLBatch   bool
	CutOverLockTimeout time.Duration
	DropOldTable       bool
	NiceRatio          float64
	CheckpointInterval time.Duration
	WorkerPprofAddr    string
	NoBinlogFilter     bool
	ExactRowCount      bool

	LockWaitTimeout time.Duration
	LockDeadline    time.Duration

	TUI bool // watch the run in the terminal UI (an in-process controller and API)

	MaxTransactionAge time.Duration // `run` only: the gate's transactions line
}

func newRunCmd(streams IO) *cobra.Command {
	opts := &RunOptions{Plan: PlanOptions{IO: streams}}
	cmd := &cobra.Command{
		Use:   "run [DDL]",
		Short: "Plan a schema change, show the plan, and run it online",
		Long: `run plans the change exactly as 'migrate plan' does, shows the plan, asks for confirmation
(on a terminal; --yes in CI) and runs it:

  instant / inplace   the ALTER with its explicit ALGORITHM/LOCK clause, on a connection with a
                      short lock_wait_timeout: a long transaction on the table makes it back off
                      and retry (naming the blocker) instead of queueing every query behind it;
  ghost               gh-ost in a worker process, reading the binlog from a replica (or the
                      primary with --on-primary), then an atomic rename.

Throughout, a throttler watches Threads_running (--max-load), replica lag (--max-lag, measured
with a heartbeat), replication health and an optional HTTP check; gh-ost pauses while it
throttles. --critical-load held past its grace aborts. Ctrl-C aborts cleanly: the original
table is left as it was and the run's gh-ost tables are dropped.

Every migration is recorded in the _ghostgate schema on the primary; a second migration on a
table that has an active one is refused.

Exit codes: 0 complete, 1 error before running, 2 usage, 3 blocked by findings, 4 the
migration failed (original table intact), 130 cancelled.

Settings that are not per run can come from a config file (--config or $GHOSTGATE_CONFIG: one
'flag-name = value' a line) or the environment ($GHOSTGATE_FLAG_NAME, e.g. GHOSTGATE_MAX_LAG=2s).`,
		Example: `  export GHOSTGATE_PASSWORD=secret
  migrate run -H db1 -u dba -d shop --replica db2:3306 "ALTER TABLE orders MODIFY quantity BIGINT NOT NULL DEFAULT 1"

  # in CI: no prompt, JSON-lines events and a final summary on stdout
  migrate run --yes -o json -d shop --file migrations/042.sql --max-lag 1s --max-load Threads_running=30

  # watch it in Prometheus while it runs
  migrate run --metrics-addr 127.0.0.1:9187 -d shop --file change.sql`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if opts.Plan.Output != "text" && opts.Plan.Output != "json" {
				return usageErrorf("--output %q: want text or json", opts.Plan.Output)
			}
			if err := opts.Plan.Lint.check(); err != nil {
				return err
			}
			if opts.TUI && (!(streams.InTTY && streams.OutTTY) || opts.Plan.Output != "text") {
				return usageErrorf("--tui needs a terminal and text output; without it, migrate run prints plain progress")
			}
			if !opts.Yes && !(streams.InTTY && streams.OutTTY) {
				return usageErrorf("not a terminal: nothing can confirm the run; pass --yes to run without confirmation")
			}
			if opts.Yes && opts.Plan.File == "-" {
				// fine: stdin holds the DDL and nothing needs to be confirmed
			} else if !opts.Yes && (opts.Plan.File == "-" || len(args) == 0 && opts.Plan.File == "") {
				return usageErrorf("the DDL cannot come from stdin when stdin must answer the confirmation: use an argument or --file")
			}
			ddl, err := readDDL(args, opts.Plan.File, streams.In, streams.InTTY)
			if err != nil {
				return err
			}
			return runRun(c.Context(), opts, ddl)
		},
	}
	fs := cmd.Flags()
	opts.Plan.Conn.addFlags(fs)
	opts.Plan.Lint.addFlags(fs)
	fs.StringVarP(&opts.Plan.File, "file", "f", "", "read the DDL from this file (- for stdin)")
	fs.StringVarP(&opts.Plan.Output, "output", "o", "text", "text, or json: one JSON event per line and a final summary object")
	fs.BoolVarP(&opts.Yes, "yes", "y", false, "run without asking for confirmation (CI)")
	fs.BoolVar(&opts.Resume, "resume", false, "continue an interrupted migration of the same change on the table from gh-ost's last checkpoint instead of asking (CI); refused when there is none")
	addRunnerFlags(fs, opts)
	fs.StringVar(&opts.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address while running, e.g. 127.0.0.1:9187")
	fs.DurationVar(&opts.Progress, "progress-interval", 5*time.Second, "how often a progress line is printed (text output)")
	fs.BoolVar(&opts.TUI, "tui", false, "watch the run in the terminal UI (migrate tui) instead of progress lines; quitting asks whether to cancel")
	fs.DurationVar(&opts.MaxTransactionAge, "gate-max-transaction-age", DefaultGateMaxTransactionAge, "gh-ost: a transaction open longer than this holds the cut-over, named (0: off)")
	return cmd
}

// addRunnerFlags adds the runner's settings to fs: `migrate run` and `migrate serve` share them.
func addRunnerFlags(fs *pflag.FlagSet, o *RunOptions) {
	fs.StringVar(&o.StateDatabase, "state-database", store.DefaultDatabase, "schema on the primary that holds ghostgate's state: migrations, events, heartbeats")
	fs.StringSliceVar(&o.Replicas, "replica", nil, "replica host:port to watch for lag (repeatable); gh-ost reads the binlog from the first. Default: the replicas the primary lists in SHOW SLAVE HOSTS")
	fs.BoolVar(&o.OnPrimary, "on-primary", false, "run gh-ost against the primary (binlog read there) instead of a replica")
	fs.StringVar(&o.WorkDir, "work-dir", filepath.Join(os.TempDir(), "ghostgate"), "directory for gh-ost's socket, flag files and worker log (one subdirectory per migration)")
	fs.DurationVar(&o.WorkDirKeep, "work-dir-retention", runner.DefaultWorkDirRetention, "keep an ended migration's subdirectory of --work-dir (its worker log, for 'migrate logs') this long; older ones are removed when run or serve starts")
	fs.StringVar(&o.MaxLoad, "max-load", "Threads_running=25", "throttle while any of these global status values is at or above its limit (name=value,…)")
	fs.StringVar(&o.CriticalLoad, "critical-load", "", "abort when any of these is reached and stays past --critical-load-grace (name=value,…)")
	fs.DurationVar(&o.CriticalGrace, "critical-load-grace", 10*time.Second, "how long a critical load may last before the migration aborts")
	fs.DurationVar(&o.MaxLag, "max-lag", 1500*time.Millisecond, "throttle while any replica lags more than this (heartbeat-measured); a stopped replica always throttles")
	fs.StringVar(&o.ThrottleHTTP, "throttle-http", "", "throttle while GET on this URL does not answer 2xx")
	fs.Int64Var(&o.ChunkSize, "chunk-size", 0, "gh-ost: rows per copy chunk (10-100000); with --chunk-time the starting size (default 1000; sized by time: a quarter of what this server's recent copies did in one --chunk-time, when that is more)")
	fs.DurationVar(&o.ChunkTime, "chunk-time", 500*time.Millisecond, "gh-ost: size chunks by time: grow while a chunk takes less than this and the throttler is quiet, shrink on a throttle or a slow chunk (within 10-100000); 0 keeps --chunk-size fixed")
	fs.DurationVar(&o.ChunkMaxLockWait, "chunk-max-lock-wait", 50*time.Millisecond, "gh-ost, with --chunk-time: the row-lock waiting a second the application may spend behind the copy's chunks (Innodb_row_lock_time) before the chunks are halved; higher copies faster under writes, at the application's latency (BENCHMARKS.md, run 4)")
	fs.Int64Var(&o.DMLBatchSize, "dml-batch-size", ghost.DefaultDMLBatchSize, "gh-ost: binlog events applied per transaction (1-100); with --adaptive-dml-batch the floor")
	fs.BoolVar(&o.AdaptiveDMLBatch, "adaptive-dml-batch", false, "gh-ost: grow the apply batch from --dml-batch-size up to 100 while binlog events queue up, back as they drain (drains a backlog twice as fast; raised the foreground's p99 in the benchmark)")
	fs.DurationVar(&o.CutOverLockTimeout, "cut-over-lock-timeout", ghost.DefaultCutOverLockTimeout, "gh-ost: how long one cut-over attempt may wait for its table lock, with the table's writes waiting behind it, before it gives up and retries (whole, even seconds, 2s-20s)")
	fs.Float64Var(&o.NiceRatio, "nice-ratio", 0, "gh-ost: sleep this many times each chunk's copy time after it (0: none; 1 halves the copy rate)")
	fs.DurationVar(&o.CheckpointInterval, "checkpoint-interval", ghost.DefaultCheckpointInterval, "gh-ost: how often the copy is checkpointed, so that a killed run resumes (--resume) and a completed one can be reverted (at least 10s)")
	fs.BoolVar(&o.NoBinlogFilter, "no-binlog-filter", false, "gh-ost: read the binlog unfiltered, decoding the row events of every table (by default the worker hands gh-ost only those of the migrated table and its changelog: less CPU); for comparison or if the filter is suspected")
	fs.BoolVar(&o.ExactRowCount, "exact-rowcount", false, "gh-ost: count the table's rows (SELECT COUNT(*) on the replica while the copy starts) for an exact progress and ETA; by default the server's statistics estimate, as gh-ost and pt-osc use (the count made a 2M-row copy 25-30% slower on the sandbox, BENCHMARKS.md run 5)")
	fs.StringVar(&o.WorkerPprofAddr, "worker-pprof-addr", "", "gh-ost: each worker serves Go's profiles on this address (port 0: kernel-chosen; the address is in the migration's event log and worker log); off by default")
	fs.BoolVar(&o.DropOldTable, "drop-old-table", false, "gh-ost: drop the original table after the rename (default: keep it as _<table>_<time>_del, so the change can be reverted: migrate revert)")
	fs.DurationVar(&o.LockWaitTimeout, "lock-wait-timeout", 2*time.Second, "native ALTER: how long one attempt waits for the metadata lock (whole seconds)")
	fs.DurationVar(&o.LockDeadline, "lock-deadline", 5*time.Minute, "native ALTER: give up retrying for the metadata lock after this long")
}

// runConfig turns the flags into the runner's config.
func runConfig(opts *RunOptions, cfg *mysql.Config, replicas []string) (runner.Config, error) {
	primary, err := endpoint(cfg.Addr, cfg)
	if err != nil {
		return runner.Config{}, err
	}
	if opts.WorkDirKeep <= 0 {
		return runner.Config{}, usageErrorf("--work-dir-retention %s: want a positive duration", opts.WorkDirKeep)
	}
	rc := runner.Config{Primary: primary, OnPrimary: opts.OnPrimary, WorkDir: opts.WorkDir, WorkDirRetention: opts.WorkDirKeep}
	for _, r := range replicas {
		e, err := endpoint(r, cfg)
		if err != nil {
			return runner.Config{}, usageErrorf("--replica %q: %v", r, err)
		}
		rc.Replicas = append(rc.Replicas, e)
	}
	if rc.Throttle.MaxLoad, err = throttle.ParseThresholds(opts.MaxLoad); err != nil {
		return runner.Config{}, usageErrorf("--max-load: %v", err)
	}
	if rc.Throttle.CriticalLoad, err = throttle.ParseThresholds(opts.CriticalLoad); err != nil {
		return runner.Config{}, usageErrorf("--critical-load: %v", err)
	}
	rc.Throttle.CriticalLoadGrace = opts.CriticalGrace
	rc.Throttle.MaxLag = opts.MaxLag
	rc.Throttle.HTTPURL = opts.ThrottleHTTP
	if opts.ServiceHealth != (ServiceHealthOptions{}) {
		if rc.Throttle.ServiceHealth, err = opts.ServiceHealth.config(); err != nil {
			return runner.Config{}, err
		}
	}
	rc.Native = native.Config{LockWaitTimeout: opts.LockWaitTimeout, Deadline: opts.LockDeadline}
	if opts.ChunkTime < 0 {
		return runner.Config{}, usageErrorf("--chunk-time %v: must not be negative (0 keeps --chunk-size fixed)", opts.ChunkTime)
	}
	if opts.ChunkMaxLockWait < 0 {
		return runner.Config{}, usageErrorf("--chunk-max-lock-wait %v: must not be negative", opts.ChunkMaxLockWait)
	}
	rc.Chunk = chunk.Config{Target: opts.ChunkTime, Fixed: opts.ChunkTime == 0, MaxLockWait: opts.ChunkMaxLockWait}
	rc.Ghost = runner.GhostTuning{ChunkSize: opts.ChunkSize, DMLBatchSize: opts.DMLBatchSize, AdaptiveDMLBatch: opts.AdaptiveDMLBatch,
		CutOverLockTimeout: opts.CutOverLockTimeout, DropOldTable: opts.DropOldTable,
		NiceRatio: opts.NiceRatio, CheckpointInterval: opts.CheckpointInterval, PprofAddr: opts.WorkerPprofAddr,
		NoBinlogFilter: opts.NoBinlogFilter, ExactRowCount: opts.ExactRowCount}
	if err := rc.Validate(); err != nil {
		return runner.Config{}, &UsageError{Err: err}
	}
	return rc, nil
}

// endpoint is host:port with the primary's credentials.
func endpoint(addr string, cfg *mysql.Config) (ghost.Endpoint, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return ghost.Endpoint{}, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return ghost.Endpoint{}, fmt.Errorf("bad port %q", portStr)
	}
	return ghost.Endpoint{Host: host, Port: port, User: cfg.User, Password: cfg.Passwd}, nil
}

// discoverReplicas lists the replicas that registered with the primary (report_host).
func discoverReplicas(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW SLAVE HOSTS")
	if err != nil {
		return nil, fmt.Errorf("discover replicas (SHOW SLAVE HOSTS): %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		var host, port string
		for i, c := range cols {
			switch strings.ToLower(c) {
			case "host":
				host = vals[i].String
			case "port":
				port = vals[i].String
			}
		}
		if host != "" && port != "" {
			out = append(out, net.JoinHostPort(host, port))
		}
	}
	return out, rows.Err()
}

// confirm asks on the terminal; only "y" or "yes" proceeds.
func confirm(streams IO, question string) bool {
	fmt.Fprintf(streams.ErrOut, "%s [y/N] ", question)
	var answer string
	_, _ = fmt.Fscanln(streams.In, &answer)
	answer = strings.ToLower(strings.TrimSpace(answer))
	return answer == "y" || answer == "yes"
}
