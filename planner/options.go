package planner

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Override is a CLI flag that overrides the error findings carrying it.
type Override struct {
	Flag string // e.g. "--allow-destructive"
	Help string // one line for --help
}

// The override flags. The CLI registers exactly the flags of Overrides (plus FlagAllowDropTable,
// which is not a finding override but lets DROP/TRUNCATE TABLE be planned at all).
const (
	FlagAllowDestructive  = "--allow-destructive"
	FlagAllowIncompatible = "--allow-incompatible"
	FlagAllowDataLoss     = "--allow-data-loss"
	FlagAllowDropTable    = "--allow-drop-table"
)

// Overrides lists every flag a Finding.Override can name, with its help text.
var Overrides = []Override{
	{FlagAllowDestructive, "allow changes that destroy data or structure: DROP COLUMN, DROP PRIMARY KEY, DROP TABLE"},
	{FlagAllowIncompatible, "allow backward-incompatible renames of columns or tables (applications using the old name break)"},
	{FlagAllowDataLoss, "allow changes that existing rows may not survive: ADD UNIQUE over duplicates, narrowing a column below existing values (a run then fails cleanly rather than lose rows)"},
}

// Defaults for the INPLACE-rebuild threshold: above either, a rebuilding INPLACE change goes to gh-ost
// because a replica replays the rebuild as one statement after it committed on the primary, and
// lags for as long as the rebuild takes.
const (
	DefaultRebuildMaxRows  = 100_000
	DefaultRebuildMaxBytes = 64 << 20
)

// Options configure a Planner. The value is immutable once given to New or NewOffline.
type Options struct {
	// Schema is the default database for unqualified table names.
	Schema string
	// Server is the flavor and version for offline planning, e.g. "mariadb-10.11", "mysql-8.0.30".
	// A connected Planner reads it from the server and ignores this field.
	Server string
	// Overrides are the override flags given (see Overrides), e.g. []string{"--allow-destructive"}.
	Overrides []string
	// AllowDropTable lets DROP TABLE and TRUNCATE TABLE be planned (with an error finding that
	// --allow-destructive overrides) instead of refused. They run natively, never through gh-ost.
	AllowDropTable bool
	// SingleStatement refuses DDL text holding more than one statement.
	SingleStatement bool
	// NoProbe plans a connected Planner by rules only (no clone table is created).
	NoProbe bool
	// RebuildMaxRows and RebuildMaxBytes bound the table size for which a rebuilding INPLACE change
	// stays native (0 = the defaults above).
	RebuildMaxRows  int64
	RebuildMaxBytes int64
	// Capability, when set, replaces the server probe (tests; also works offline).
	Capability Capability
	// StoreSchema is the schema of ghostgate's state store ("" = DefaultStoreSchema). Changes of
	// it, of DefaultStoreSchema and of the system schemas are refused.
	StoreSchema string
	// PerformanceSchema, offline only, says whether the target server runs with
	// performance_schema=ON (nil: unknown, no finding). A connected Planner reads it.
	PerformanceSchema *bool
	// GhostCopyRate, when set, is the gh-ost copy rate measured on this server (the store's
	// completed migrations: store.ReadCopyRate); the duration estimate of a gh-ost plan uses it
	// instead of the built-in rate, and says so.
	GhostCopyRate *CopyRate
	// WriteRates, when set, measures each gh-ost plan's table's write rate, and ApplyCapacity is
	// gh-ost's apply capacity measured on this server (nil: BuiltinApplyCapacity): the plan says
	// when the writes would starve the copy (Plan.Forecast, finding CodeWriteRate).
	WriteRates    WriteRateSource
	ApplyCapacity *ApplyCapacity
}

// CopyRate is a measured gh-ost copy rate and where it comes from.
type CopyRate struct {
	RowsPerSecond float64
	// Source says what was measured, e.g. "the median of the last 5 gh-ost copies on this server".
	Source string
}

// Capability answers, for one ALTER (clauses as for "ALTER TABLE t <clauses>"), which of algs the
// server accepts with LOCK=NONE. It tries them in order and stops at the first accepted one.
type Capability func(ctx context.Context, schema, table, clauses string, algs []Algorithm) ([]ProbeAnswer, error)

// ErrInvalidOptions is wrapped by every error of Options.Validate.
var ErrInvalidOptions = errors.New("planner: invalid options")

// Validate checks the options.
func (o Options) Validate() error {
	known := map[string]bool{}
	for _, ov := range Overrides {
		known[ov.Flag] = true
	}
	for _, f := range o.Overrides {
		if !known[f] {
			return fmt.Errorf("%w: unknown override %q", ErrInvalidOptions, f)
		}
	}
	if r := o.GhostCopyRate; r != nil && !(r.RowsPerSecond > 0) {
		return fmt.Errorf("%w: a measured copy rate must be positive, got %v rows/s", ErrInvalidOptions, r.RowsPerSecond)
	}
	if c := o.ApplyCapacity; c != nil && !(c.EventsPerSecond > 0) {
		return fmt.Errorf("%w: a measured apply capacity must be positive, got %v events/s", ErrInvalidOptions, c.EventsPerSecond)
	}
	if o.RebuildMaxRows < 0 || o.RebuildMaxBytes < 0 {
		return fmt.Errorf("%w: rebuild thresholds must not be negative", ErrInvalidOptions)
	}
	if o.Server != "" {
		if _, err := ParseServer(o.Server); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidOptions, err)
		}
	}
	return nil
}

func (o Options) allowed(flag string) bool {
	for _, f := range o.Overrides {
		if f == flag {
			return true
		}
	}
	return false
}

func (o Options) rebuildMaxRows() int64 {
	if o.RebuildMaxRows == 0 {
		return DefaultRebuildMaxRows
	}
	return o.RebuildMaxRows
}

func (o Options) rebuildMaxBytes() int64 {
	if o.RebuildMaxBytes == 0 {
		return DefaultRebuildMaxBytes
	}
	return o.RebuildMaxBytes
}

// Flavor is the server family.
type Flavor string

// Flavors.
const (
	MariaDB Flavor = "mariadb"
	MySQL   Flavor = "mysql"
)

// Server is a flavor and version; rules depend on both.
type Server struct {
	Flavor              Flavor
	Major, Minor, Patch int
}

// String is the form ParseServer reads, e.g. "mariadb-10.11.6".
func (s Server) String() string {
	return fmt.Sprintf("%s-%d.%d.%d", s.Flavor, s.Major, s.Minor, s.Patch)
}

// number is the version as executable comments write it: major*10000 + minor*100 + patch.
func (s Server) number() int { return s.Major*10000 + s.Minor*100 + s.Patch }

// AtLeast reports whether the version is >= major.minor.patch.
func (s Server) AtLeast(major, minor, patch int) bool {
	if s.Major != major {
		return s.Major > major
	}
	if s.Minor != minor {
		return s.Minor > minor
	}
	return s.Patch >= patch
}

var serverRE = regexp.MustCompile(`^(?i)(mariadb|mysql)-(\d+)\.(\d+)(?:\.(\d+))?$`)

// ErrUnsupportedServer means a flavor/version the rules do not cover.
var ErrUnsupportedServer = errors.New("planner: unsupported server")

// ParseServer reads "mariadb-10.11", "mysql-8.0.30" and the like. Supported: MariaDB 10.x/11.x,
// MySQL 5.7 and 8.x. A missing patch means .0 (the conservative choice for rules gated on patch).
func ParseServer(s string) (Server, error) {
	m := serverRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Server{}, fmt.Errorf("%w: %q (want e.g. mariadb-10.11 or mysql-8.0.30)", ErrUnsupportedServer, s)
	}
	srv := Server{Flavor: Flavor(strings.ToLower(m[1]))}
	srv.Major, _ = strconv.Atoi(m[2])
	srv.Minor, _ = strconv.Atoi(m[3])
	if m[4] != "" {
		srv.Patch, _ = strconv.Atoi(m[4])
	}
	return srv, srv.check()
}

func (s Server) check() error {
	ok := (s.Flavor == MariaDB && (s.Major == 10 || s.Major == 11)) ||
		(s.Flavor == MySQL && ((s.Major == 5 && s.Minor == 7) || s.Major == 8))
	if !ok {
		return fmt.Errorf("%w: %s (rules cover MariaDB 10.x/11.x and MySQL 5.7/8.x)", ErrUnsupportedServer, s)
	}
	return nil
}

var versionRE = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)`)

// serverFromVersion reads SELECT VERSION() output such as "10.11.6-MariaDB-0+deb12u1-log" or "8.0.36".
func serverFromVersion(v string) (Server, error) {
	m := versionRE.FindStringSubmatch(v)
	if m == nil {
		return Server{}, fmt.Errorf("%w: version %q", ErrUnsupportedServer, v)
	}
	srv := Server{Flavor: MySQL}
	if strings.Contains(strings.ToLower(v), "mariadb") {
		srv.Flavor = MariaDB
	}
	srv.Major, _ = strconv.Atoi(m[1])
	srv.Minor, _ = strconv.Atoi(m[2])
	srv.Patch, _ = strconv.Atoi(m[3])
	return srv, srv.check()
}
