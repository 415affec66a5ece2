package service

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ghostgate/ghostgate/examples/shop"
	"github.com/ghostgate/ghostgate/graybox"
	"github.com/ghostgate/ghostgate/graybox/wire"
)

// Options is everything shopsvc runs with (the binary's flags). It is a value; Run copies it.
type Options struct {
	// DSN is a go-sql-driver/mysql DSN naming the database that holds the table.
	DSN string
	// Listen is the address to serve on, e.g. "127.0.0.1:8080".
	Listen string
	// Table is the table to serve (shop.Table when empty).
	Table string
	// ControllerURL is the base URL of `migrate serve`.
	ControllerURL string
	// ControllerURLs are further controllers of the same fleet, tried in turn when the one in
	// use does not answer (graybox.Config.ControllerURLs).
	ControllerURLs []string
	// Secret is the participant secret shared with the controller.
	Secret []byte
	// Service and InstanceID name the instance ("shopsvc" and "shopsvc-<listen address>" when
	// empty).
	Service, InstanceID string
	// Mode is wire.ModeHTTP (the controller POSTs to the hook) or wire.ModeSignal.
	Mode wire.Mode
	// Signal is the signal of signal mode (wire.DefaultSignal when empty).
	Signal string
	// AdvertiseURL is the base URL under which the controller reaches this instance in HTTP
	// mode; "http://" + the bound listen address when empty.
	AdvertiseURL string
	// ShedWrites, RetryAfter and ReportMigrating are as in Config.
	ShedWrites      bool
	RetryAfter      time.Duration
	ReportMigrating bool
	// Heartbeat is the lease renewal interval (0: the controller's suggestion).
	Heartbeat time.Duration
	// Admin serves PUT /admin/latency (Config.Admin): latency injection for demos and tests.
	Admin bool
	// HealthWindow is the span of the request figures reported to the controller (0: graybox's
	// default).
	HealthWindow time.Duration
	// ShutdownTimeout bounds the graceful shutdown of the HTTP server (5 s when 0).
	ShutdownTimeout time.Duration
	// Logger receives the service's log; nil discards it.
	Logger *slog.Logger
}

// Validate checks the options.
func (o Options) Validate() error {
	if o.DSN == "" {
		return fmt.Errorf("%w: dsn is empty", ErrConfig)
	}
	if _, err := mysql.ParseDSN(o.DSN); err != nil {
		return fmt.Errorf("%w: dsn: %w", ErrConfig, err)
	}
	if o.Listen == "" {
		return fmt.Errorf("%w: listen address is empty", ErrConfig)
	}
	if !o.Mode.Valid() {
		return fmt.Errorf("%w: mode %q is not %q or %q", ErrConfig, o.Mode, wire.ModeHTTP, wire.ModeSignal)
	}
	if o.AdvertiseURL != "" {
		if u, err := url.Parse(o.AdvertiseURL); err != nil || u.Host == "" {
			return fmt.Errorf("%w: advertise URL %q is not absolute", ErrConfig, o.AdvertiseURL)
		}
	}
	if o.ShutdownTimeout < 0 || o.RetryAfter < 0 || o.Heartbeat < 0 || o.HealthWindow < 0 {
		return fmt.Errorf("%w: negative duration", ErrConfig)
	}
	// The participant's own rules (controller URL, secret length, signal) are checked by
	// graybox.New once the listen address is known.
	return nil
}

// Run serves until ctx ends, then deregisters from the controller, shuts the HTTP server down
// gracefully and returns nil. It returns an error when it cannot start (database, listen
// address, invalid participant configuration) or the controller refuses the registration for
// good.
func Run(ctx context.Context, opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, schema, err := openDB(ctx, opts.DSN)
	if err != nil {
		return err
	}
	defer db.Close()
	table := opts.Table
	if table == "" {
		table = shop.Table
	}
	version, err := DetectVersion(ctx, db, schema, table)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return fmt.Errorf("shopsvc: listen: %w", err)
	}
	defer ln.Close()
	p, err := graybox.New(participantConfig(opts, schema+"."+table, version, ln.Addr().String(), log), PhaseHandlers(db))
	if err != nil {
		return err
	}
	svc, err := New(Config{Schema: schema, Table: table, ShedWrites: opts.ShedWrites,
		RetryAfter: opts.RetryAfter, ReportMigrating: opts.ReportMigrating,
		Recorder: p.Recorder(schema + "." + table), Admin: opts.Admin}, db, p)
	if err != nil {
		return err
	}
	log.Info("serving", "addr", ln.Addr().String(), "table", svc.QualifiedTable(), "version", version,
		"mode", opts.Mode, "instance", p.InstanceID())
	return serve(ctx, opts, ln, svc.Handler(), p, log)
}

// serve runs the HTTP server and the participant until ctx ends or either fails.
func serve(ctx context.Context, opts Options, ln net.Listener, h http.Handler, p *graybox.Participant, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("shopsvc: serve: %w", err)
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		// Run deregisters before it returns: the controller stops counting this instance
		// while the HTTP server still answers the requests in flight.
		if err := p.Run(ctx); err != nil {
			errs <- err
			cancel()
		}
	}()
	<-ctx.Done()
	log.Info("shutting down")
	timeout := opts.ShutdownTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer scancel()
	shutErr := srv.Shutdown(sctx)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if shutErr != nil {
		return fmt.Errorf("shopsvc: shutdown: %w", shutErr)
	}
	return nil
}

// openDB opens the pool with parseTime (updated_at scans into time.Time) and UTC, and returns
// the DSN's database name.
func openDB(ctx context.Context, dsn string) (*sql.DB, string, error) {
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, "", fmt.Errorf("shopsvc: dsn: %w", err)
	}
	if mc.DBName == "" {
		return nil, "", fmt.Errorf("%w: the DSN names no database", ErrConfig)
	}
	mc.ParseTime, mc.Loc = true, time.UTC
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, "", fmt.Errorf("shopsvc: dsn: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(64)
	db.SetMaxIdleConns(16)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return nil, "", fmt.Errorf("shopsvc: connect: %w", err)
	}
	return db, mc.DBName, nil
}

// participantConfig builds the graybox configuration for the bound address addr.
func participantConfig(o Options, table, version, addr string, log *slog.Logger) graybox.Config {
	service, id := o.Service, o.InstanceID
	if service == "" {
		service = "shopsvc"
	}
	if id == "" {
		id = service + "-" + addr
	}
	cfg := graybox.Config{
		ControllerURL: o.ControllerURL, ControllerURLs: o.ControllerURLs, Secret: o.Secret,
		Service: service, InstanceID: id,
		Tables: []string{table}, Versions: map[string]string{table: version},
		Mode: o.Mode, Signal: o.Signal, Heartbeat: o.Heartbeat, HealthWindow: o.HealthWindow,
		Observe: func(e graybox.Event) { logEvent(log, e) },
	}
	if o.Mode == wire.ModeHTTP {
		base := o.AdvertiseURL
		if base == "" {
			base = "http://" + addr
		}
		cfg.HookURL = base + wire.HookPath
	}
	return cfg
}

func logEvent(log *slog.Logger, e graybox.Event) {
	attrs := []any{"event", string(e.Kind)}
	if e.Request != nil {
		attrs = append(attrs, "migration", e.Request.MigrationID, "phase", string(e.Request.Phase))
	}
	switch {
	case e.Err != nil:
		log.Warn("participant", append(attrs, "err", e.Err.Error())...)
	case e.Kind == graybox.EventHeartbeat:
		log.Debug("participant", attrs...)
	default:
		log.Info("participant", attrs...)
	}
}
