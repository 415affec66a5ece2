// Package writerate measures how fast the application writes each table, at plan time (issue 12:
// a forecast, not just an estimate). gh-ost applies the binlog's row events of the table it
// migrates before it copies another chunk (Migrator.executeWriteFuncs), so a table written
// faster than gh-ost's apply loop can apply starves the copy: it never ends (gh-ost issues #751,
// #1150). The planner compares the rate measured here with the apply loop's capacity.
//
// Why the binlog: it is what gh-ost itself will read, so its row events are exactly the work
// the apply loop will have (an UPDATE of a thousand rows is a thousand events, a statement that
// changes nothing is none), and it works the same on MariaDB and MySQL with no server setting
// beyond the binlog gh-ost needs anyway (ROW format; performance_schema and MariaDB's userstat
// are often off, and count statements or handler calls, not row events). The cost is a
// replication connection for a bounded window: the Sampler tails the binlog from its current end
// for Config.Window (default 1s), or for Config.Quiet when no row event of any table arrives in
// that time, so a quiet server's plan waits a quarter of a second, not a whole one.
package writerate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/store"
)

// Defaults of Config.
const (
	DefaultWindow = time.Second
	DefaultQuiet  = 250 * time.Millisecond
)

// Config is where and how long to sample; an immutable value.
type Config struct {
	Host     string
	Port     int
	User     string
	Password string
	// Flavor is "mariadb" or "mysql"; empty: read from the server's version.
	Flavor string
	// Window is how long the binlog is tailed (default 1s); Off turns sampling off.
	Window time.Duration
	Off    bool
	// Quiet ends the sample early when no row event of any table arrived within it (default
	// 250ms): the server is not writing, and a longer wait would only slow the plan down.
	Quiet time.Duration
}

// ErrInvalidConfig is wrapped by every error of Config.Validate.
var ErrInvalidConfig = errors.New("writerate: invalid config")

// Validate reports what cannot work.
func (c Config) Validate() error {
	if c.Off {
		return nil
	}
	switch {
	case c.Host == "" || c.Port <= 0 || c.Port > 65535 || c.User == "":
		return fmt.Errorf("%w: needs host, port and user", ErrInvalidConfig)
	case c.Window < 0 || c.Window > time.Minute:
		return fmt.Errorf("%w: window %v: want 0 (the default %v) up to a minute", ErrInvalidConfig, c.Window, DefaultWindow)
	case c.Quiet < 0:
		return fmt.Errorf("%w: quiet %v must not be negative", ErrInvalidConfig, c.Quiet)
	case c.Flavor != "" && c.Flavor != mysql.MariaDBFlavor && c.Flavor != mysql.MySQLFlavor:
		return fmt.Errorf("%w: flavor %q: want mariadb or mysql", ErrInvalidConfig, c.Flavor)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Quiet == 0 {
		c.Quiet = DefaultQuiet
	}
	c.Quiet = min(c.Quiet, c.Window)
	return c
}

// Sample is one measurement: the row events per table over Elapsed.
type Sample struct {
	Rows    map[string]int64 // by "schema.table", lower case
	Elapsed time.Duration
	// Quiet is set when the sample ended early because no row event arrived.
	Quiet bool
}

// Rate is the table's row events per second over the sample.
func (s Sample) Rate(schema, table string) float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Rows[key(schema, table)]) / s.Elapsed.Seconds()
}

func key(schema, table string) string { return strings.ToLower(schema + "." + table) }

// Sampler takes one sample in the background (Start) so that the plan's own work overlaps the
// window, and hands it to every table asked about (Wait).
type Sampler struct {
	cfg    Config
	db     *sql.DB
	once   sync.Once
	cancel context.CancelFunc
	done   chan struct{}
	res    Sample
	err    error
}

// NewSampler returns a sampler of the server db is connected to, with the credentials in cfg.
func NewSampler(db *sql.DB, cfg Config) (*Sampler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Sampler{cfg: cfg.withDefaults(), db: db, done: make(chan struct{})}, nil
}

// Window is how long a sample lasts at most.
func (s *Sampler) Window() time.Duration { return s.cfg.Window }

// Start begins the sample (once); it ends after the window, when ctx ends, or at Stop.
func (s *Sampler) Start(ctx context.Context) {
	s.once.Do(func() {
		ctx, s.cancel = context.WithCancel(ctx)
		go func() {
			defer close(s.done)
			s.res, s.err = take(ctx, s.db, s.cfg)
		}()
	})
}

// Stop ends a sample nobody waits for (a plan without gh-ost, or one that failed) and returns
// when its binlog connection is closed.
func (s *Sampler) Stop() {
	s.once.Do(func() { close(s.done) }) // never started
	if s.cancel != nil {
		s.cancel()
	}
	<-s.done
}

// Wait starts the sample if it was not and returns it when it ends.
func (s *Sampler) Wait(ctx context.Context) (Sample, error) {
	s.Start(ctx)
	select {
	case <-s.done:
		return s.res, s.err
	case <-ctx.Done():
		return Sample{}, ctx.Err()
	}
}

// take tails the binlog from its current end and counts each table's row events.
func take(ctx context.Context, db *sql.DB, cfg Config) (Sample, error) {
	if cfg.Off {
		return Sample{}, errors.New("writerate: sampling is off")
	}
	pos, flavor, err := binlogEnd(ctx, db)
	if err != nil {
		return Sample{}, err
	}
	if cfg.Flavor != "" {
		flavor = cfg.Flavor
	}
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		// A server id of its own, away from gh-ost's (runner/ghost.ServerIDFor) and the usual
		// small ids of real replicas: a clash would disconnect the other.
		ServerID: 1<<31 + rand.Uint32N(1<<30),
		Flavor:   flavor, Host: cfg.Host, Port: uint16(cfg.Port), User: cfg.User, Password: cfg.Password,
		MaxReconnectAttempts: 1, DisableRetrySync: true,
		Logger: discardLogger(),
	})
	defer syncer.Close()
	streamer, err := syncer.StartSync(pos)
	if err != nil {
		return Sample{}, fmt.Errorf("writerate: tail the binlog from %s: %w", pos, err)
	}
	start := time.Now()
	res := Sample{Rows: map[string]int64{}}
	wctx, cancel := context.WithDeadline(ctx, start.Add(cfg.Window))
	defer cancel()
	seen := false
	for {
		gctx, gcancel := wctx, context.CancelFunc(func() {})
		if !seen {
			gctx, gcancel = context.WithDeadline(wctx, start.Add(cfg.Quiet))
		}
		ev, err := streamer.GetEvent(gctx)
		quietEnd := !seen && gctx.Err() != nil && wctx.Err() == nil
		gcancel()
		if err != nil {
			if ctx.Err() != nil {
				return Sample{}, ctx.Err()
			}
			if wctx.Err() != nil || quietEnd {
				res.Elapsed, res.Quiet = time.Since(start), quietEnd
				return res, nil
			}
			return Sample{}, fmt.Errorf("writerate: read the binlog: %w", err)
		}
		if count(ev.Event, res.Rows) {
			seen = true
		}
	}
}

// count adds the row events of ev (a rows event, or MySQL's compressed transaction payload that
// holds them) to rows by table, and reports whether it held any.
func count(ev replication.Event, rows map[string]int64) bool {
	switch e := ev.(type) {
	case *replication.RowsEvent:
		if e.Table == nil {
			return false
		}
		n := int64(len(e.Rows))
		if e.Type() == replication.EnumRowsEventTypeUpdate {
			n /= 2 // before and after images, one row event each for gh-ost
		}
		rows[key(string(e.Table.Schema), string(e.Table.Table))] += n
		return true
	case *replication.TransactionPayloadEvent:
		found := false
		for _, inner := range e.Events {
			if count(inner.Event, rows) {
				found = true
			}
		}
		return found
	}
	return false
}

// binlogEnd is the primary's current binlog position and flavor.
func binlogEnd(ctx context.Context, db *sql.DB) (mysql.Position, string, error) {
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return mysql.Position{}, "", fmt.Errorf("writerate: %w", err)
	}
	flavor := mysql.MySQLFlavor
	if strings.Contains(strings.ToLower(version), "mariadb") {
		flavor = mysql.MariaDBFlavor
	}
	rows, err := db.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil {
		// MySQL 8.4 renamed it.
		if rows, err = db.QueryContext(ctx, "SHOW BINARY LOG STATUS"); err != nil {
			return mysql.Position{}, "", fmt.Errorf("writerate: read the binlog position: %w", err)
		}
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return mysql.Position{}, "", fmt.Errorf("writerate: read the binlog position: %w", err)
	}
	if !rows.Next() {
		return mysql.Position{}, "", errors.New("writerate: the server writes no binlog (SHOW MASTER STATUS is empty): gh-ost needs one")
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil || len(vals) < 2 {
		return mysql.Position{}, "", fmt.Errorf("writerate: read the binlog position: %v", err)
	}
	var p uint64
	if _, err := fmt.Sscan(string(vals[1]), &p); err != nil {
		return mysql.Position{}, "", fmt.Errorf("writerate: binlog position %q: %w", vals[1], err)
	}
	return mysql.Position{Name: string(vals[0]), Pos: uint32(p)}, flavor, nil
}

// discardLogger silences go-mysql's replication log: a failed sample is reported as an error.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// WriteRate is the table's rate from the sample (planner.WriteRateSource); the first call waits
// for the sample to end.
func (s *Sampler) WriteRate(ctx context.Context, schema, table string) (planner.WriteRate, error) {
	res, err := s.Wait(ctx)
	if err != nil {
		return planner.WriteRate{}, err
	}
	src := fmt.Sprintf("its row events in the binlog over %.2f s", res.Elapsed.Seconds())
	if res.Quiet {
		src = fmt.Sprintf("no row event of any table in the binlog within %.2f s", res.Elapsed.Seconds())
	}
	return planner.WriteRate{RowsPerSecond: res.Rate(schema, table), Source: src}, nil
}

// capacitySamples is how many of the latest gh-ost runs the measured apply capacity is the
// median of.
const capacitySamples = 5

// PlanOptions sets o's WriteRates (a Sampler of cfg's server, started now so that its window
// overlaps the planning) and ApplyCapacity (from the store in stateDB, when one was measured).
// A sampler that cannot be built makes every plan say why its rate is not measured; sampling
// that is off leaves WriteRates unset (no forecast at all). The caller calls stop once the
// planner is done: it ends a sample no plan waited for.
func PlanOptions(ctx context.Context, db *sql.DB, cfg Config, stateDB string, o *planner.Options) (stop func()) {
	if c, err := store.ReadApplyCapacity(ctx, db, stateDB, capacitySamples); err == nil && c.Samples > 0 {
		o.ApplyCapacity = &planner.ApplyCapacity{EventsPerSecond: c.EventsPerSecond,
			Source: fmt.Sprintf("measured: the median of the last %d gh-ost runs on this server while events waited", c.Samples)}
	}
	if cfg.Off {
		return func() {}
	}
	s, err := NewSampler(db, cfg)
	if err != nil {
		o.WriteRates = unavailable{err}
		return func() {}
	}
	s.Start(ctx)
	o.WriteRates = s
	return s.Stop
}

// unavailable is a write-rate source that cannot measure, and says why.
type unavailable struct{ err error }

func (u unavailable) WriteRate(context.Context, string, string) (planner.WriteRate, error) {
	return planner.WriteRate{}, u.err
}
