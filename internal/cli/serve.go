package cli

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/cobra"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/internal/debugsrv"
	"github.com/ghostgate/ghostgate/internal/version"
	"github.com/ghostgate/ghostgate/internal/writerate"
	"github.com/ghostgate/ghostgate/metrics"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/server"
	"github.com/ghostgate/ghostgate/store"
)

// Environment variables holding secrets themselves (the *_FILE flags name files instead).
const (
	EnvToken             = "GHOSTGATE_TOKEN"
	EnvParticipantSecret = "GHOSTGATE_PARTICIPANT_SECRET"
)

// ServeOptions are the flags of `migrate serve`.
type ServeOptions struct {
	IO  IO
	Run RunOptions // connection, replicas, throttle thresholds, gh-ost tuning, work dir

	Listen      string
	PprofAddr   string // Go's profiles on a listener of their own; "" off
	AllowRemote bool
	NoResume    bool // leave interrupted migrations interrupted instead of resuming them
	// Fleet: several controllers on one state database (docs/fleet.md).
	Lease                 time.Duration // a migration's lease (store.Options.StaleAfter)
	HeartbeatInterval     time.Duration // renewal of the leases of the migrations run here
	ClaimInterval         time.Duration // how often to look for migrations whose owner is gone
	ControllerID          string        // this controller's name in the leases (default: the host name)
	ClustersFile          string        // --clusters: the clusters and the state database (docs/fleet.md)
	OnShutdown            string        // cancel or handover: what SIGTERM does to running migrations
	MaxConcurrent         int           // queue: at most this many migrations run at once (0: no queue)
	TokenFile             string
	ParticipantSecretFile string

	Approval          string
	Checksum          bool
	MaxReplicaLag     time.Duration
	MaxThreadsRunning int
	MaxBacklog        int64
	MaxTransactionAge time.Duration
	RebuildMaxRows    int64 // the planner's default for requests that give none
	WriteSample       time.Duration

	LogFormat       string
	LogLevel        string
	HookNetworks    []string
	MaxParticipants int
	MaxStreams      int
}

func newServeCmd(streams IO) *cobra.Command {
	opts := &ServeOptions{IO: streams, Run: RunOptions{Plan: PlanOptions{IO: streams}}}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the controller: migrations, the cut-over gate and the HTTP API",
		Long: `serve runs ghostgate as a long-running controller on one primary and its replicas. It runs
migrations (several at once, on different tables), keeps their state in the _ghostgate schema,
and serves a JSON API (docs/API.md): create, list, pause, resume, approve, cancel, the gate
checklist, the event log and a live event stream, participant registration, /metrics, /healthz.

It listens on loopback (127.0.0.1:8470) unless --allow-remote is given. Every call that changes
state needs the bearer token (--token-file or $GHOSTGATE_TOKEN; serve refuses to start without
one). Participants sign their calls with the shared secret (--participant-secret-file or
$GHOSTGATE_PARTICIPANT_SECRET); without it the participant endpoints are off.

On start it reports what dead runs left behind: a migration still marked active whose
controller is gone is listed as interrupted, with its cleanup command. On SIGINT/SIGTERM it
cancels running migrations cleanly (original tables intact, gh-ost tables dropped, recorded in
the event log) and exits.`,
		Example: `  export GHOSTGATE_PASSWORD=secret GHOSTGATE_TOKEN=$(openssl rand -hex 24)
  migrate serve -H db1 -u dba -d shop --replica db2:3306 --max-lag 1s

  # then, from another shell
  migrate status
  curl -s -H "Authorization: Bearer $GHOSTGATE_TOKEN" -d '{"ddl":"ALTER TABLE orders ADD COLUMN coupon VARCHAR(32) NULL"}' http://127.0.0.1:8470/v1/migrations`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runServe(c.Context(), opts) },
	}
	fs := cmd.Flags()
	opts.Run.Plan.Conn.addFlags(fs)
	addRunnerFlags(fs, &opts.Run)
	addServiceHealthFlags(fs, &opts.Run.ServiceHealth)
	fs.StringVar(&opts.Listen, "listen", server.DefaultListen, "address of the HTTP API")
	fs.BoolVar(&opts.NoResume, "no-resume", false, "do not resume the gh-ost migrations a dead controller left (by default they continue from their checkpoints; the gate asks again)")
	fs.DurationVar(&opts.Lease, "lease", store.DefaultStaleAfter, "how long a controller's claim on a migration lasts without a renewal; another controller on the same state database takes the migration over once it has passed (docs/fleet.md)")
	fs.DurationVar(&opts.HeartbeatInterval, "heartbeat-interval", 2*time.Second, "how often the leases of the migrations run here are renewed (at most a third of --lease)")
	fs.DurationVar(&opts.ClaimInterval, "claim-interval", 0, "how often to look for migrations whose controller is gone and take them over (0: a third of --lease)")
	fs.IntVar(&opts.MaxConcurrent, "max-concurrent", 0, "queue submitted migrations: at most this many run at once on the cluster (across every controller on the state database), one per table, in submission order; 0: no queue, each starts at once")
	fs.StringVar(&opts.OnShutdown, "on-shutdown", "cancel", "what SIGINT/SIGTERM does to the gh-ost migrations running here: cancel (the original tables stay as they were) or handover (stop them with their checkpoints kept and release their leases: another controller on the state database resumes them; docs/fleet.md)")
	fs.StringVar(&opts.ClustersFile, "clusters", "", "JSON file naming the clusters to run migrations on (name, primary, replicas, credentials by reference) and the state database (docs/fleet.md); without it, the one primary of the connection flags")
	fs.StringVar(&opts.ControllerID, "controller-id", "", "this controller's name in the leases (default: the host name; give each pod its own, e.g. the pod name)")
	fs.StringVar(&opts.PprofAddr, "pprof-addr", "", "serve Go's profiles (/debug/pprof/) on this address, apart from the API (off by default; e.g. 127.0.0.1:6060)")
	fs.BoolVar(&opts.AllowRemote, "allow-remote", false, "allow a listen address other hosts can reach (reads then need the token too)")
	fs.StringVar(&opts.TokenFile, "token-file", "", "file of API bearer tokens, one `NAME TOKEN` (or bare `TOKEN`, named api) a line; the event log records the name (or $"+EnvToken+")")
	fs.StringVar(&opts.ParticipantSecretFile, "participant-secret-file", "", "file whose first line is the participants' shared HMAC secret (or $"+EnvParticipantSecret+")")
	fs.StringVar(&opts.Approval, "approval", "manual", "default cut-over approval: auto, manual, or a daily window HH:MM-HH:MM (local time)")
	fs.BoolVar(&opts.Checksum, "checksum", true, "compare the original and the ghost table before the cut-over")
	fs.DurationVar(&opts.MaxReplicaLag, "gate-max-replica-lag", 0, "the gate opens only while replica lag is at most this (0: no limit)")
	fs.IntVar(&opts.MaxThreadsRunning, "gate-max-threads-running", 0, "the gate opens only while Threads_running is at most this (0: no limit)")
	fs.Int64Var(&opts.MaxBacklog, "gate-max-backlog", 100, "binlog events gh-ost may still have to apply when the gate opens (its cut-over applies them under the lock, so keep it small; idle gh-ost often reports 1)")
	fs.DurationVar(&opts.MaxTransactionAge, "gate-max-transaction-age", DefaultGateMaxTransactionAge, "a transaction open longer than this holds the cut-over, named: connection id, user, age, statement (0: off)")
	fs.DurationVar(&opts.WriteSample, "write-sample", writerate.DefaultWindow, "when planning a request, tail the binlog this long (at most) to measure each gh-ost table's write rate against gh-ost's apply capacity; 0 turns it off")
	fs.Int64Var(&opts.RebuildMaxRows, "rebuild-max-rows", 0, fmt.Sprintf("default of requests that give none (submit --rebuild-max-rows): largest table (rows) on which an INPLACE rebuild stays native (default %d)", planner.DefaultRebuildMaxRows))
	fs.StringVar(&opts.LogFormat, "log-format", "text", "the log on stderr: text or json (log/slog)")
	fs.StringVar(&opts.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringSliceVar(&opts.HookNetworks, "hook-networks", defaultHookNetworks(), "networks (CIDR) participants' hook URLs may point into; checked on every connection, redirects are never followed")
	fs.IntVar(&opts.MaxParticipants, "max-participants", 1000, "most participant registrations kept, by all the controllers sharing the state database (lapsed ones are dropped after 10m)")
	fs.IntVar(&opts.MaxStreams, "max-streams", server.DefaultMaxStreams, "most event streams and long polls open at once")
	return cmd
}

// logLeftovers logs what dead runs left behind (kept old tables are not leftovers).
func logLeftovers(logger *slog.Logger, left []store.Leftover) {
	for _, l := range left {
		if !l.Kept() {
			logger.Warn("leftover of an earlier run: "+l.Reason, "kind", l.Kind, "schema", l.Schema, "table", l.Table,
				"migration", l.MigrationID, "cleanup", l.Command)
		}
	}
}

// newLogger is serve's log on w: text or JSON lines (log/slog) at level and above.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErrorf("--log-level %q: want debug, info, warn or error", level)
	}
	o := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, usageErrorf("--log-format %q: want text or json", format)
}

// secret reads the first line of file, or else the environment variable env.
func secret(file, env, what string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimSpace(line), nil
	}
	return strings.TrimSpace(os.Getenv(env)), nil
}

// runServe is `migrate serve`, step by step.
func runServe(ctx context.Context, opts *ServeOptions) error {
	// 1. Refuse what must not start: a remote bind not asked for, no token, a bad log setting.
	if err := server.CheckListen(opts.Listen, opts.AllowRemote); err != nil {
		return &UsageError{Err: err}
	}
	if opts.WriteSample < 0 || opts.WriteSample > time.Minute {
		return usageErrorf("--write-sample %v: want 0 (off) up to 1m", opts.WriteSample)
	}
	if opts.RebuildMaxRows < 0 {
		return usageErrorf("--rebuild-max-rows %d: must not be negative", opts.RebuildMaxRows)
	}
	if _, err := opts.Run.ServiceHealth.config(); err != nil {
		return err
	}
	for _, a := range []struct{ flag, addr string }{{"--pprof-addr", opts.PprofAddr}, {"--worker-pprof-addr", opts.Run.WorkerPprofAddr}} {
		if a.addr == "" {
			continue
		}
		if err := server.CheckListen(a.addr, opts.AllowRemote); err != nil {
			return usageErrorf("%s: %v", a.flag, err)
		}
	}
	logger, err := newLogger(opts.IO.ErrOut, opts.LogFormat, opts.LogLevel)
	if err != nil {
		return err
	}
	tokens, err := serveTokens(opts.TokenFile)
	if err != nil {
		return err
	}
	if len(tokens) == 0 {
		return usageErrorf("no API token: give --token-file or $%s (state-changing calls need it)", EnvToken)
	}
	partSecret, err := secret(opts.ParticipantSecretFile, EnvParticipantSecret, "--participant-secret-file")
	if err != nil {
		return err
	}
	hookNets, err := parseNetworks(opts.HookNetworks)
	if err != nil {
		return err
	}
	fleet, err := fleetOptions(opts)
	if err != nil {
		return err
	}
	// 2. Participants, metrics, and the servers: those of --clusters FILE, or the one primary of
	// the connection flags as `migrate run` finds it, which then holds the state too.
	var registry *cutover.Registry
	owner := store.CurrentOwner()
	if opts.ControllerID != "" {
		owner.Host = opts.ControllerID
	}
	reg := metrics.NewRegistry()
	// The registry is made once the state database is open (it shares the registrations with
	// the fleet through it); the metrics ask it at each scrape, so they may be wired before.
	srv, err := openServed(ctx, opts, serveEnv{owner: owner, reg: reg, counts: func() metrics.ParticipantCounts {
		return server.ParticipantCounts(registry)()
	}})
	if err != nil {
		return err
	}
	defer srv.Close()
	if partSecret != "" {
		if registry, err = cutover.NewRegistry(cutover.RegistryConfig{Secret: []byte(partSecret), HookNetworks: hookNets,
			MaxInstances: opts.MaxParticipants, Shared: srv.store}); err != nil {
			return &UsageError{Err: err}
		}
		defer registry.Close()
	}
	// 3. The controller.
	ctrl, err := server.New(server.Options{Store: srv.store, Clusters: srv.clusters, Registry: registry, Log: logger,
		HandOverOnClose: opts.OnShutdown == "handover",
		RebuildMaxRows:  opts.RebuildMaxRows, WriteSample: opts.WriteSample, Gate: server.GateDefaults{Approval: opts.Approval, Checksum: opts.Checksum,
			Limits: client.Limits{MaxReplicaLag: client.Duration(opts.MaxReplicaLag), MaxThreadsRunning: opts.MaxThreadsRunning,
				MaxBacklog: opts.MaxBacklog, MaxTransactionAge: client.Duration(opts.MaxTransactionAge)}}})
	if err != nil {
		return &UsageError{Err: err}
	}
	// The fleet's loops: take over what a dead controller left, carry out handed-over commands.
	if err := ctrl.Background(ctx, fleet, !opts.NoResume); err != nil {
		return &UsageError{Err: err}
	}
	// 4. Migrations a dead controller left go on from their checkpoints; what else dead runs left
	// behind is said, never dropped.
	if !opts.NoResume {
		resumed, err := ctrl.ResumeInterrupted(ctx)
		if err != nil {
			fmt.Fprintf(opts.IO.ErrOut, "interrupted migrations: %v\n", err)
		}
		for _, r := range resumed {
			if r.Err != nil {
				fmt.Fprintf(opts.IO.ErrOut, "migration %s on %s was interrupted and is %v\n", r.MigrationID, r.Table, r.Err)
				continue
			}
			fmt.Fprintf(opts.IO.ErrOut, "resumed migration %s on %s from gh-ost's checkpoint\n", r.MigrationID, r.Table)
		}
	}
	if left, err := ctrl.Leftovers(ctx); err == nil {
		if opts.LogFormat == "json" {
			logLeftovers(logger, left) // one JSON object a line on stderr, as the rest of the log
		} else {
			newRunOutput(opts.IO.ErrOut, "text", 0).leftovers(left)
		}
	}
	// 5. Listen and serve until ctx ends (SIGINT/SIGTERM), then cancel what runs, cleanly.
	h, err := server.NewHandler(ctrl, server.HandlerOptions{Tokens: tokens, OpenReads: !opts.AllowRemote,
		Metrics: metrics.Handler(reg), Registry: registry, MaxStreams: opts.MaxStreams})
	if err != nil {
		return &UsageError{Err: err}
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", opts.Listen, err)
	}
	participants := "participants: off (no secret)"
	if registry != nil {
		participants = "participants: on"
	}
	fmt.Fprintf(opts.IO.Out, "ghostgate controller listening on http://%s (%s; %s)\n", ln.Addr(), srv.describe, participants)
	v := version.Get()
	logger.Info("controller started", "listen", ln.Addr().String(), "servers", srv.describe, "participants", registry != nil,
		"version", v.Version, "go_version", v.GoVersion)
	if opts.PprofAddr != "" {
		dbg, err := debugsrv.Listen(opts.PprofAddr)
		if err != nil {
			_ = ln.Close()
			return err
		}
		defer dbg.Close()
		fmt.Fprintf(opts.IO.Out, "pprof: %s\n", dbg.URL())
	}
	err = server.Serve(ctx, ln, h, ctrl)
	fmt.Fprintln(opts.IO.Out, "ghostgate controller stopped")
	return err
}

func defaultHookNetworks() []string {
	out := make([]string, len(cutover.DefaultHookNetworks))
	for i, n := range cutover.DefaultHookNetworks {
		out[i] = n.String()
	}
	return out
}

// parseNetworks reads --hook-networks: CIDR prefixes, or single addresses.
func parseNetworks(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, usageErrorf("--hook-networks: %q is neither a CIDR prefix nor an address", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	if len(out) == 0 {
		return nil, usageErrorf("--hook-networks: empty (HTTP-mode participants could never be reached)")
	}
	return out, nil
}

// openReplicas opens pools on the replicas for the gate's replica-lag line, when it is on.
func openReplicas(cfg runner.Config, want bool) ([]cutover.Replica, error) {
	if !want {
		return nil, nil
	}
	var out []cutover.Replica
	for _, e := range cfg.Replicas {
		mc := mysql.NewConfig()
		mc.Net, mc.Addr, mc.User, mc.Passwd, mc.Timeout = "tcp", e.Addr(), e.User, e.Password, 5*time.Second
		conn, err := mysql.NewConnector(mc)
		if err != nil {
			return nil, fmt.Errorf("replica %s: %w", e.Addr(), err)
		}
		out = append(out, cutover.Replica{Name: e.Addr(), DB: sql.OpenDB(conn)})
	}
	if len(out) == 0 {
		return nil, usageErrorf("--gate-max-replica-lag needs a replica to watch")
	}
	return out, nil
}

// fleetOptions checks serve's lease flags and derives the controller's fleet loops from them.
func fleetOptions(opts *ServeOptions) (server.FleetOptions, error) {
	switch {
	case opts.Lease < time.Second:
		return server.FleetOptions{}, usageErrorf("--lease %v: must be at least 1s", opts.Lease)
	case opts.HeartbeatInterval <= 0 || opts.HeartbeatInterval > opts.Lease/3:
		return server.FleetOptions{}, usageErrorf("--heartbeat-interval %v: must be positive and at most a third of --lease (%v)", opts.HeartbeatInterval, opts.Lease)
	case opts.OnShutdown != "cancel" && opts.OnShutdown != "handover":
		return server.FleetOptions{}, usageErrorf("--on-shutdown %q: want cancel or handover", opts.OnShutdown)
	case opts.MaxConcurrent < 0:
		return server.FleetOptions{}, usageErrorf("--max-concurrent %d: must not be negative (0: no queue)", opts.MaxConcurrent)
	case opts.ClaimInterval < 0:
		return server.FleetOptions{}, usageErrorf("--claim-interval %v: must not be negative", opts.ClaimInterval)
	case len(opts.ControllerID) > 200:
		return server.FleetOptions{}, usageErrorf("--controller-id: at most 200 characters")
	}
	claim := opts.ClaimInterval
	if claim == 0 {
		claim = opts.Lease / 3
	}
	return server.FleetOptions{ClaimInterval: claim}, nil
}
