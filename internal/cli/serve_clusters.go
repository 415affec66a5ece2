package cli

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ghostgate/ghostgate/internal/clusterconf"
	"github.com/ghostgate/ghostgate/metrics"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/server"
	"github.com/ghostgate/ghostgate/store"
)

// served is what serve opened: the store on the state database, the clusters (each with its
// primary's pool, runner and gate replicas), what to call them in the start line, and what to
// close at the end.
type served struct {
	store    *store.Store
	clusters []server.Cluster
	describe string // "primary 127.0.0.1:3306", or "clusters shop, billing"
	closers  []func() error
}

// Close closes what was opened, in reverse.
func (s *served) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		_ = s.closers[i]()
	}
}

// serveEnv is what opening the servers needs besides the flags.
type serveEnv struct {
	owner  store.Owner
	reg    *prometheus.Registry
	counts func() metrics.ParticipantCounts
}

// openServed opens the servers: those of --clusters FILE, or the one primary of the connection
// flags, exactly as `migrate run` finds it.
func openServed(ctx context.Context, opts *ServeOptions, env serveEnv) (*served, error) {
	if opts.ClustersFile == "" {
		return openSingle(ctx, opts, env)
	}
	conf, err := clusterconf.Load(opts.ClustersFile)
	if err != nil {
		return nil, &UsageError{Err: err}
	}
	if len(opts.Run.Replicas) > 0 || opts.Run.Plan.Conn.DSN != "" {
		return nil, usageErrorf("--clusters %s names the servers: --replica and --dsn are for a controller without one", opts.ClustersFile)
	}
	return openConfigured(ctx, opts, conf, env)
}

// openSingle is serve without a clusters file: one cluster, named "", whose primary also holds
// the state (--state-database), as before clusters existed.
func openSingle(ctx context.Context, opts *ServeOptions, env serveEnv) (*served, error) {
	out := &served{}
	db, cfg, err := opts.Run.Plan.Conn.open(ctx)
	if err != nil {
		return nil, err
	}
	out.closers = append(out.closers, db.Close)
	replicas := opts.Run.Replicas
	if len(replicas) == 0 && !opts.Run.OnPrimary {
		if replicas, err = discoverReplicas(ctx, db); err != nil {
			out.Close()
			return nil, err
		}
		if len(replicas) == 0 {
			out.Close()
			return nil, usageErrorf("no replica found in SHOW SLAVE HOSTS: name one with --replica host:port, or run gh-ost on the primary with --on-primary")
		}
	}
	rcfg, err := runConfig(&opts.Run, cfg, replicas)
	if err != nil {
		out.Close()
		return nil, err
	}
	if out.store, err = openStore(ctx, db, opts.Run.StateDatabase, opts, env); err != nil {
		out.Close()
		return nil, err
	}
	cl, err := openCluster(ctx, opts, "", db, cfg.DBName, 0, rcfg, out, env.reg, env.counts)
	if err != nil {
		out.Close()
		return nil, err
	}
	out.clusters, out.describe = []server.Cluster{cl}, "primary "+cfg.Addr
	return out, nil
}

// openConfigured opens the servers of a clusters file (docs/fleet.md): the state database (the
// file's, else the first cluster's primary with --state-database) and, per cluster, its primary
// and a runner with serve's runner flags, its work directory --work-dir/<cluster>, its metrics
// labelled cluster="<name>".
func openConfigured(ctx context.Context, opts *ServeOptions, conf clusterconf.Config, env serveEnv) (*served, error) {
	out := &served{}
	fail := func(err error) (*served, error) {
		out.Close()
		return nil, err
	}
	var stateDB *sql.DB
	database := opts.Run.StateDatabase
	if conf.State != nil {
		db, err := openServer(ctx, conf.State.Server, "")
		if err != nil {
			return fail(fmt.Errorf("state database: %w", err))
		}
		out.closers, stateDB = append(out.closers, db.Close), db
		if conf.State.Database != "" {
			database = conf.State.Database
		}
	}
	var names []string
	for i, c := range conf.Clusters {
		db, err := openServer(ctx, c.Primary, c.Database)
		if err != nil {
			return fail(fmt.Errorf("cluster %s: %w", c.Name, err))
		}
		out.closers = append(out.closers, db.Close)
		if stateDB == nil {
			stateDB = db
		}
		if i == 0 {
			if out.store, err = openStore(ctx, stateDB, database, opts, env); err != nil {
				return fail(err)
			}
		}
		mcfg, err := serverConfig(c.Primary, c.Database)
		if err != nil {
			return fail(err)
		}
		run := opts.Run
		run.OnPrimary, run.WorkDir = c.OnPrimary, filepath.Join(opts.Run.WorkDir, c.Name)
		rcfg, err := runConfig(&run, mcfg, c.Replicas)
		if err != nil {
			return fail(fmt.Errorf("cluster %s: %w", c.Name, err))
		}
		rcfg.Cluster = c.Name
		counts := env.counts
		if i > 0 {
			counts = nil // one registry of participants: counted once
		}
		cl, err := openCluster(ctx, opts, c.Name, db, c.Database, c.MaxConcurrent, rcfg,
			out, prometheus.WrapRegistererWith(prometheus.Labels{"cluster": c.Name}, env.reg), counts)
		if err != nil {
			return fail(fmt.Errorf("cluster %s: %w", c.Name, err))
		}
		out.clusters = append(out.clusters, cl)
		names = append(names, c.Name)
	}
	out.describe = "clusters " + strings.Join(names, ", ")
	return out, nil
}

// openStore opens the store on the state database with serve's lease settings.
func openStore(ctx context.Context, db *sql.DB, database string, opts *ServeOptions, env serveEnv) (*store.Store, error) {
	return store.Open(ctx, db, store.Options{Database: database, StaleAfter: opts.Lease, Owner: env.owner})
}

// openCluster builds one cluster: its runner (metrics on reg) and the gate's replica pools.
// maxConcurrent of a configured cluster wins over --max-concurrent when set.
func openCluster(ctx context.Context, opts *ServeOptions, name string, db *sql.DB, schema string, maxConcurrent int, rcfg runner.Config,
	out *served, reg prometheus.Registerer, counts func() metrics.ParticipantCounts) (server.Cluster, error) {
	rcfg.HeartbeatInterval = opts.HeartbeatInterval
	r, err := runner.New(rcfg, out.store, metrics.New(reg))
	if err != nil {
		return server.Cluster{}, err
	}
	out.closers = append(out.closers, r.Close)
	sweepWorkDir(ctx, r, opts.IO.ErrOut)
	gateReplicas, err := openReplicas(rcfg, opts.MaxReplicaLag > 0)
	if err != nil {
		return server.Cluster{}, err
	}
	for _, rep := range gateReplicas {
		out.closers = append(out.closers, rep.DB.Close)
	}
	if maxConcurrent == 0 {
		maxConcurrent = opts.MaxConcurrent
	}
	return server.Cluster{Name: name, DB: db, Runner: r, Replicas: gateReplicas, DefaultSchema: schema,
		MaxConcurrent: maxConcurrent, GateMetrics: metrics.NewGate(reg, counts)}, nil
}

// serverConfig is the driver config of a configured server, its password read by reference.
func serverConfig(s clusterconf.Server, database string) (*mysql.Config, error) {
	pw, err := s.Password()
	if err != nil {
		return nil, err
	}
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd, cfg.DBName = "tcp", s.Addr(), s.User, pw, database
	cfg.ParseTime, cfg.Timeout = true, 5*time.Second
	return cfg, nil
}

// openServer connects to a configured server and pings it.
func openServer(ctx context.Context, s clusterconf.Server, database string) (*sql.DB, error) {
	cfg, err := serverConfig(s, database)
	if err != nil {
		return nil, err
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", cfg.Addr, err)
	}
	db := sql.OpenDB(conn)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to %s as %s: %w", cfg.Addr, cfg.User, err)
	}
	return db, nil
}
