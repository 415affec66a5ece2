// Package service is shopsvc, ghostgate's example service: a small HTTP API over the orders
// table (package shop) that takes part in ghostgate's cut-over through graybox.
//
// Routes (Service.Handler):
//
//	GET    /orders/{id}    200 OrderJSON | 404
//	POST   /orders         201 OrderJSON | 400 | 409 (id taken)
//	PUT    /orders/{id}    200 OrderJSON | 400 | 404
//	DELETE /orders/{id}    204 | 404
//	GET    /healthz        200 (the process is up)
//	GET    /readyz         graybox.Readiness (503 "migrating" during a cut-over when configured)
//	POST   /ghostgate/hook the participant's hook (wire.HookPath)
//	PUT    /admin/latency  body "300ms": add this latency to every /orders request (Config.Admin
//	                       only; "0" ends it) — to show the service-health throttle at work
//
// Reads and writes of orders go through graybox.Table: the old shape (status) until a ready
// prepare, then both shapes (status and status_code), reading status_code when set. With
// Config.ShedWrites, writes are answered 429 with Retry-After between a ready prepare and its
// commit or abort; reads keep working. Every /orders response carries the shape it used in the
// X-Schema-Shape header ("old" or "dual"). With Config.Recorder every /orders request is
// recorded (latency; a 5xx as an error) for the participant's health reports, which the
// controller's service-health throttle compares with the figures from before a migration.
//
// Run wires it all for the binary: the pool, the listener, the participant (HTTP or signal
// mode), and a clean shutdown that deregisters.
package service

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ghostgate/ghostgate/examples/shop"
	"github.com/ghostgate/ghostgate/graybox"
	"github.com/ghostgate/ghostgate/graybox/wire"
)

// Config configures a Service. It is a value; New copies it.
type Config struct {
	// Schema is the database holding the table; Table the table (shop.Table when empty).
	Schema, Table string
	// ShedWrites answers writes with 429 during a cut-over (prepare → commit/abort).
	ShedWrites bool
	// RetryAfter is the Retry-After of a shed write (graybox.DefaultRetryAfter when 0).
	RetryAfter time.Duration
	// ReportMigrating makes /readyz answer 503 "migrating" during a cut-over.
	ReportMigrating bool
	// Recorder, when set, records every /orders request (Participant.Recorder of the table).
	Recorder *graybox.Recorder
	// Admin serves PUT /admin/latency, which slows every /orders request down on purpose.
	// Never on a production listener: it is unauthenticated.
	Admin bool
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.Schema == "":
		return fmt.Errorf("%w: Schema is empty", ErrConfig)
	case c.RetryAfter < 0:
		return fmt.Errorf("%w: RetryAfter is negative", ErrConfig)
	}
	return nil
}

// ErrConfig is wrapped by every configuration error of this package.
var ErrConfig = errors.New("shopsvc: invalid config")

func (c Config) table() string {
	if c.Table == "" {
		return shop.Table
	}
	return c.Table
}

// Participant is what the service needs of a *graybox.Participant.
type Participant interface {
	graybox.StateSource
	Migrating() bool
	Hook() http.Handler
}

var _ Participant = (*graybox.Participant)(nil)

// Service serves the orders API. Its methods are safe for concurrent use.
type Service struct {
	cfg    Config
	db     *sql.DB
	p      Participant
	orders *graybox.Table[shop.Order]
	delay  atomic.Int64 // injected latency of /orders requests, nanoseconds (PUT /admin/latency)
}

// New returns a Service over db (a pool on any database; the table is addressed as
// cfg.Schema.cfg.Table) whose shape follows p.
func New(cfg Config, db *sql.DB, p Participant) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil || p == nil {
		return nil, fmt.Errorf("%w: a pool and a participant are required", ErrConfig)
	}
	orders, err := graybox.NewTable[shop.Order](graybox.TableConfig{
		Schema: cfg.Schema, Table: cfg.table(), Key: "id",
		OldVersion: shop.OldVersion, NewVersion: shop.NewVersion,
	}, p)
	if err != nil {
		return nil, fmt.Errorf("shopsvc: %w", err)
	}
	return &Service{cfg: cfg, db: db, p: p, orders: orders}, nil
}

// QualifiedTable is "schema.table" as registered with the controller.
func (s *Service) QualifiedTable() string { return s.cfg.Schema + "." + s.cfg.table() }

// Shape is the shape reads and writes use now.
func (s *Service) Shape() graybox.Shape { return s.orders.Shape() }

// Handler returns the service's routes (see the package doc).
func (s *Service) Handler() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /orders/{id}", s.getOrder)
	api.HandleFunc("POST /orders", s.createOrder)
	api.HandleFunc("PUT /orders/{id}", s.updateOrder)
	api.HandleFunc("DELETE /orders/{id}", s.deleteOrder)
	var orders http.Handler = s.slowed(api)
	if s.cfg.ShedWrites {
		orders = graybox.ShedWrites(s.p.Migrating, s.cfg.RetryAfter, orders)
	}
	if s.cfg.Recorder != nil {
		orders = graybox.Measure(s.cfg.Recorder, orders)
	}

	mux := http.NewServeMux()
	mux.Handle("/orders", orders)
	mux.Handle("/orders/", orders)
	// The hook is a POST too: it must never be shed, or the commit that ends the shedding
	// could not arrive.
	mux.Handle("POST "+wire.HookPath, s.p.Hook())
	if s.cfg.Admin {
		mux.HandleFunc("PUT /admin/latency", s.setLatency)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /readyz", graybox.Readiness{
		Migrating:       s.p.Migrating,
		ReportMigrating: s.cfg.ReportMigrating,
		Check:           s.db.PingContext,
	})
	return mux
}

// PhaseHandlers are the participant's callbacks for a service over db. Prepare answers "not
// ready" when the database cannot be reached: an instance that could not dual-write must keep
// the gate closed. Commit and abort need nothing: graybox moves the shape itself.
func PhaseHandlers(db *sql.DB) graybox.Handlers {
	return graybox.Handlers{
		Prepare: func(ctx context.Context, _ wire.PhaseRequest) error {
			if err := db.PingContext(ctx); err != nil {
				return fmt.Errorf("shopsvc: database unreachable: %w", err)
			}
			return nil
		},
	}
}

// DetectVersion reports the schema version the table is on: shop.NewVersion when it has the
// migration's new column (a restart after the migration), else shop.OldVersion.
func DetectVersion(ctx context.Context, db *sql.DB, schema, table string) (string, error) {
	var n int
	err := db.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?",
		schema, table, shop.NewColumn).Scan(&n)
	if err != nil {
		return "", fmt.Errorf("shopsvc: detect schema version: %w", err)
	}
	if n > 0 {
		return shop.NewVersion, nil
	}
	return shop.OldVersion, nil
}

// slowed sleeps the injected latency (if any) before next serves the request.
func (s *Service) slowed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := time.Duration(s.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
			}
		}
		next.ServeHTTP(w, r)
	})
}

// maxInjected bounds PUT /admin/latency: longer only times clients out.
const maxInjected = time.Minute

// setLatency is PUT /admin/latency: the body is a Go duration ("300ms"; "0" ends it).
func (s *Service) setLatency(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	d, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil || d < 0 || d > maxInjected {
		writeError(w, http.StatusBadRequest, fmt.Errorf("latency %q: want a duration between 0 and %v, e.g. 300ms", strings.TrimSpace(string(b)), maxInjected))
		return
	}
	s.delay.Store(int64(d))
	writeJSON(w, http.StatusOK, map[string]string{"latency": d.String()})
}
