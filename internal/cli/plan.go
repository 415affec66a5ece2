package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ghostgate/ghostgate/internal/writerate"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/store"
)

// PlanOptions are the flags of `migrate plan`.
type PlanOptions struct {
	IO   IO
	Conn ConnOptions

	File   string
	Output string // text | json

	Offline    bool
	SchemaFile string
	Flavor     string
	NoProbe    bool
	Single     bool

	Lint LintOptions
}

// LintOptions are the planner settings shared by `plan` and `run`: overrides and thresholds.
type LintOptions struct {
	AllowDestructive  bool
	AllowIncompatible bool
	AllowDataLoss     bool
	AllowDropTable    bool
	RebuildMaxRows    int64
	// WriteSample is how long the binlog is tailed to measure each gh-ost table's write rate
	// (0: not measured).
	WriteSample time.Duration
}

func (o *LintOptions) addFlags(fs *pflag.FlagSet) {
	help := map[string]string{}
	for _, ov := range planner.Overrides {
		help[ov.Flag] = ov.Help
	}
	fs.BoolVar(&o.AllowDestructive, flagName(planner.FlagAllowDestructive), false, help[planner.FlagAllowDestructive])
	fs.BoolVar(&o.AllowIncompatible, flagName(planner.FlagAllowIncompatible), false, help[planner.FlagAllowIncompatible])
	fs.BoolVar(&o.AllowDataLoss, flagName(planner.FlagAllowDataLoss), false, help[planner.FlagAllowDataLoss])
	fs.BoolVar(&o.AllowDropTable, flagName(planner.FlagAllowDropTable), false, "plan DROP TABLE / TRUNCATE TABLE at all (they still need --allow-destructive)")
	fs.DurationVar(&o.WriteSample, "write-sample", writerate.DefaultWindow, "tail the binlog this long (at most; a quarter second when nothing is written) to measure each gh-ost table's write rate against gh-ost's apply capacity; 0 turns it off")
	fs.Int64Var(&o.RebuildMaxRows, "rebuild-max-rows", 0, fmt.Sprintf("largest table (rows) on which an INPLACE rebuild stays native; replicas lag for the whole rebuild, so larger tables go to gh-ost (default %d)", planner.DefaultRebuildMaxRows))
}

// check refuses flag values that cannot work.
func (o LintOptions) check() error {
	if o.WriteSample < 0 || o.WriteSample > time.Minute {
		return usageErrorf("--write-sample %v: want 0 (off) up to 1m", o.WriteSample)
	}
	return nil
}

func flagName(f string) string { return strings.TrimPrefix(f, "--") }

// options turns the flags into planner options.
func (o LintOptions) options() planner.Options {
	var ov []string
	if o.AllowDestructive {
		ov = append(ov, planner.FlagAllowDestructive)
	}
	if o.AllowIncompatible {
		ov = append(ov, planner.FlagAllowIncompatible)
	}
	if o.AllowDataLoss {
		ov = append(ov, planner.FlagAllowDataLoss)
	}
	return planner.Options{Overrides: ov, AllowDropTable: o.AllowDropTable, RebuildMaxRows: o.RebuildMaxRows}
}

func newPlanCmd(streams IO, runF func(context.Context, *PlanOptions) error) *cobra.Command {
	opts := &PlanOptions{IO: streams}
	cmd := &cobra.Command{
		Use:   "plan [DDL]",
		Short: "Show how a schema change would run, and what could go wrong, without running it",
		Long: `plan parses one or more DDL statements, lints them and chooses, per table, how the change
would run: "instant" (metadata only), "inplace" (ALGORITHM=INPLACE/NOCOPY, LOCK=NONE: online,
no copy) or "ghost" (gh-ost copies the table online and swaps it in). It never plans a blocking
table copy.

Connected, it asks the server: the ALTER is tried on an empty clone of the table with an
explicit ALGORITHM clause, and the server's answer wins over the built-in rules. The clone is
always dropped. --offline plans from CREATE TABLE definitions with the rules alone (CI without
a database).

The DDL comes from the argument, --file (a path, or - for stdin), or stdin.

Exit codes: 0 safe to run, 3 blocked by findings of severity error (each names the flag that
overrides it), 1 error (unparsable or refused DDL, unknown table, connection), 2 usage.`,
		Example: `  # a connected plan; the password comes from $GHOSTGATE_PASSWORD or --password-file
  export GHOSTGATE_PASSWORD=secret
  migrate plan -H db1 -u dba -d shop "ALTER TABLE orders ADD COLUMN coupon VARCHAR(32) NULL"

  # several statements from a file, as JSON for a CI job
  migrate plan --dsn 'dba@tcp(db1:3306)/shop' --file migrations/042.sql --output json

  # offline, from a schema dump, for MariaDB 10.11
  mysqldump --no-data shop > schema.sql
  migrate plan --offline --schema-file schema.sql --flavor mariadb-10.11 -d shop --file change.sql

  # accept a destructive change on purpose
  migrate plan -d shop --allow-destructive "ALTER TABLE orders DROP COLUMN legacy_note"`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if opts.Output != "text" && opts.Output != "json" {
				return usageErrorf("--output %q: want text or json", opts.Output)
			}
			if err := opts.Lint.check(); err != nil {
				return err
			}
			if opts.Offline && opts.SchemaFile == "" {
				return usageErrorf("--offline needs --schema-file with the CREATE TABLE definitions")
			}
			if !opts.Offline && (opts.SchemaFile != "" || c.Flags().Changed("flavor")) {
				return usageErrorf("--schema-file and --flavor are for --offline planning")
			}
			ddl, err := readDDL(args, opts.File, streams.In, streams.InTTY)
			if err != nil {
				return err
			}
			if runF != nil {
				return runF(c.Context(), opts)
			}
			return planRun(c.Context(), opts, ddl)
		},
	}
	fs := cmd.Flags()
	opts.Conn.addFlags(fs)
	fs.StringVarP(&opts.File, "file", "f", "", "read the DDL from this file (- for stdin)")
	fs.StringVarP(&opts.Output, "output", "o", "text", "output format: text or json")
	fs.BoolVar(&opts.Offline, "offline", false, "plan without a database, from --schema-file, by rules only")
	fs.StringVar(&opts.SchemaFile, "schema-file", "", "CREATE TABLE definitions for --offline (e.g. mysqldump --no-data)")
	fs.StringVar(&opts.Flavor, "flavor", "mariadb-10.11", "server flavor and version for --offline: mariadb-10.11, mysql-8.0.30, …")
	fs.BoolVar(&opts.NoProbe, "no-probe", false, "connected, but decide by rules only (no clone table is created)")
	fs.BoolVar(&opts.Single, "single", false, "refuse DDL text that holds more than one statement")
	opts.Lint.addFlags(fs)
	return cmd
}

func planRun(ctx context.Context, opts *PlanOptions, ddl string) error {
	plans, err := makePlans(ctx, opts, ddl)
	if err != nil {
		return err
	}
	if err := writePlans(opts.IO.Out, opts.Output, plans); err != nil {
		return err
	}
	if planner.AnyBlocked(plans) {
		return ErrBlocked
	}
	return nil
}

// makePlans plans ddl connected or offline.
func makePlans(ctx context.Context, opts *PlanOptions, ddl string) ([]*planner.Plan, error) {
	popts := opts.Lint.options()
	popts.SingleStatement = opts.Single
	popts.NoProbe = opts.NoProbe
	popts.Schema = opts.Conn.Database
	var p *planner.Planner
	if opts.Offline {
		defs, err := os.ReadFile(opts.SchemaFile)
		if err != nil {
			return nil, fmt.Errorf("--schema-file: %w", err)
		}
		popts.Server = opts.Flavor
		if p, err = planner.NewOffline(string(defs), popts); err != nil {
			return nil, err
		}
	} else {
		db, cfg, err := opts.Conn.open(ctx)
		if err != nil {
			return nil, err
		}
		defer db.Close()
		if popts.Schema == "" {
			popts.Schema = cfg.DBName
		}
		popts.GhostCopyRate = measuredCopyRate(ctx, db, store.DefaultDatabase)
		defer forecastOptions(ctx, db, cfg, opts.Lint.WriteSample, store.DefaultDatabase, &popts)()
		if p, err = planner.New(db, popts); err != nil {
			return nil, err
		}
	}
	return p.Plan(ctx, ddl)
}

// copyRateSamples is how many of the latest gh-ost copies the measured rate is the median of.
const copyRateSamples = 5

// measuredCopyRate is this server's gh-ost copy rate from the store in stateDB, nil when none was
// measured or it cannot be read (the plan then says it uses the built-in rate).
func measuredCopyRate(ctx context.Context, db *sql.DB, stateDB string) *planner.CopyRate {
	r, err := store.ReadCopyRate(ctx, db, stateDB, copyRateSamples)
	if err != nil || r.Samples == 0 {
		return nil
	}
	return &planner.CopyRate{RowsPerSecond: r.RowsPerSecond,
		Source: fmt.Sprintf("the median of the last %d gh-ost copies on this server", r.Samples)}
}

// forecastOptions lets the planner measure each gh-ost table's write rate on the server cfg
// connects to, by tailing its binlog for sample (0: off), and compare it with the apply capacity
// measured in the store in stateDB.
// The caller calls the returned stop once the planner is done.
func forecastOptions(ctx context.Context, db *sql.DB, cfg *mysql.Config, sample time.Duration, stateDB string, o *planner.Options) (stop func()) {
	wc := writerate.Config{User: cfg.User, Password: cfg.Passwd, Window: sample, Off: sample == 0}
	if host, port, err := net.SplitHostPort(cfg.Addr); err == nil && cfg.Net == "tcp" {
		wc.Host = host
		wc.Port, _ = strconv.Atoi(port)
	}
	return writerate.PlanOptions(ctx, db, wc, stateDB, o)
}

// writePlans prints plans as text or as a JSON array.
func writePlans(w io.Writer, format string, plans []*planner.Plan) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(plans)
	}
	return planner.WriteText(w, plans)
}
