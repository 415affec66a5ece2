package cli

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/cobra"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/server"
	"github.com/ghostgate/ghostgate/store"
	"github.com/ghostgate/ghostgate/tui"
)

// errNotTerminal refuses the TUI when stdout is not a terminal; it is a usage error (exit 2):
// the same information exists as plain text.
var errNotTerminal = errors.New("migrate tui needs a terminal on stdin and stdout; for plain text use `migrate status --watch` (add -o json for JSON)")

// TUIOptions are the flags of `migrate tui`.
type TUIOptions struct {
	IO     IO
	Client ClientOptions
}

func newTUICmd(streams IO) *cobra.Command {
	opts := &TUIOptions{IO: streams}
	cmd := &cobra.Command{
		Use:   "tui [ID]",
		Short: "Watch and steer the migrations of a running controller in a terminal UI",
		Long: `tui shows the migrations of a running 'migrate serve': a list, and for one migration its
progress, replica lag and copy rate, the throttle state and its reason, the cut-over gate's
checklist, the participants and the event log, refreshed every second.

The list shows what needs a person first (at the gate, interrupted, failed in the last day),
then newest first; / filters it, g/G (Home/End) jump to the first and last row. Keys act on the
migration under the cursor, and only those that can work on it are offered: p pause/resume,
s chunk size, a approve the cut-over, x cancel, e evict the selected participant (tab selects);
approve, cancel and evict ask first. ? shows every key. Actions need the API token
(--token-file or $` + EnvToken + `) and are recorded with --as (default user@host).

It needs a terminal: without one it exits with code 2 and points to 'migrate status --watch',
which prints the same information as text or JSON.`,
		Example: `  migrate tui
  migrate tui --server http://127.0.0.1:8470 --token-file ~/.ghostgate-token 01JB3K6ZP7M2YH2QJ4X6N0V8RT`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if !streams.OutTTY || !streams.InTTY {
				return &UsageError{Err: errNotTerminal}
			}
			api, err := opts.Client.client()
			if err != nil {
				return err
			}
			to := tui.Options{Title: api.Server()}
			if len(args) == 1 {
				to.Focus = args[0]
			}
			return tui.Run(c.Context(), api, to, streams.In, streams.Out)
		},
	}
	opts.Client.addFlags(cmd.Flags())
	return cmd
}

// runTUIApproval is the cut-over approval of `migrate run --tui`: the run was confirmed before
// it started, as for `migrate run`, so the gate opens by itself once every condition holds.
const runTUIApproval = "auto"

// runTUIDeps is what `migrate run` has set up when it hands over to the TUI.
type runTUIDeps struct {
	db     *sql.DB
	cfg    *mysql.Config
	store  *store.Store
	runner *runner.Runner
	rcfg   runner.Config
}

// runWithTUI is `migrate run --tui`: the plans run through an in-process controller and API
// on a loopback port with a random token, and the TUI watches them through the API client
// like any other. Quitting while the migration runs asks whether to cancel it; whatever still
// runs when the TUI ends is cancelled cleanly by the controller's shutdown.
func runWithTUI(ctx context.Context, opts *RunOptions, d runTUIDeps, ddl string) error {
	// 1. The controller, with the gate's replica line on the replicas gh-ost watches.
	reps, err := openReplicas(d.rcfg, len(d.rcfg.Replicas) > 0)
	if err != nil {
		return err
	}
	defer func() {
		for _, r := range reps {
			_ = r.DB.Close()
		}
	}()
	ctrl, err := server.New(server.Options{DB: d.db, Store: d.store, Runner: d.runner, Replicas: reps,
		DefaultSchema: d.cfg.DBName, Gate: server.GateDefaults{Approval: runTUIApproval, Checksum: true,
			Limits: client.Limits{MaxTransactionAge: client.Duration(opts.MaxTransactionAge)}}})
	if err != nil {
		return &UsageError{Err: err}
	}
	// 2. Its API on a free loopback port, for this process only.
	token, err := randomToken()
	if err != nil {
		return err
	}
	h, err := server.NewHandler(ctrl, server.HandlerOptions{Token: token, OpenReads: true})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the in-process API: %w", err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- server.Serve(sctx, ln, h, ctrl) }()
	defer func() { stop(); <-served }()
	api, err := client.New("http://"+ln.Addr().String(), token, nil)
	if err != nil {
		return err
	}
	api = api.WithActor(defaultActor())
	// 3. Submit, watch, and judge by how the migrations ended.
	ids, err := submit(ctx, api, opts, d.cfg.DBName, ddl)
	if err != nil {
		return err
	}
	to := tui.Options{Focus: ids[0], CancelOnQuit: true, Title: "migrate run"}
	if len(ids) > 1 {
		to.Focus = "" // several tables: start on the list
	}
	if err := tui.Run(ctx, api, to, opts.Plan.IO.In, opts.Plan.IO.Out); err != nil {
		return err
	}
	return outcome(context.WithoutCancel(ctx), opts.Plan.IO.Out, api, ids)
}

// submit creates the migrations with the lint overrides of the command line.
func submit(ctx context.Context, api *client.Client, opts *RunOptions, schema, ddl string) ([]string, error) {
	po := opts.Plan.Lint.options()
	views, err := api.Create(ctx, client.CreateRequest{DDL: ddl, Schema: schema, Overrides: po.Overrides,
		AllowDropTable: po.AllowDropTable, RebuildMaxRows: po.RebuildMaxRows, Approval: runTUIApproval})
	if err != nil {
		return nil, err
	}
	if len(views) == 0 {
		return nil, errors.New("the controller started no migration")
	}
	ids := make([]string, len(views))
	for i, v := range views {
		ids[i] = v.ID
	}
	return ids, nil
}

// outcome prints how each migration ended, as the runner summed it up (time, rows, cut-over
// and table lock, the kept original table), and maps the worst to an error: failed before
// cancelled before still running (which the shutdown then cancels).
func outcome(ctx context.Context, w io.Writer, api *client.Client, ids []string) error {
	var failed, cancelled error
	for _, id := range ids {
		v, err := api.Get(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s.%s (%s): %s\n", v.Schema, v.Table, v.Strategy, finalSummary(ctx, api, v))
		switch {
		case v.Status == migration.StatusFailed:
			failed = &MigrationFailedError{Err: errors.New(v.Error)}
		case v.Status != migration.StatusComplete:
			cancelled = fmt.Errorf("%w: %s.%s is %s and the controller stops with the TUI", ErrCancelled, v.Schema, v.Table, v.Status)
		}
	}
	if failed != nil {
		return failed
	}
	return cancelled
}

// finalSummary is the reason of v's last transition (the runner's summary of a complete run,
// the error of a failed one), or its status when the log cannot be read.
func finalSummary(ctx context.Context, api *client.Client, v client.MigrationView) string {
	if v.Status == migration.StatusFailed && v.Error != "" {
		return "failed: " + v.Error
	}
	evs, err := api.Events(ctx, v.ID, 0, 0)
	if err != nil {
		return string(v.Status)
	}
	for i := len(evs.Events) - 1; i >= 0; i-- {
		e := evs.Events[i]
		var t struct{ To string }
		if e.Kind == store.EventTransition && json.Unmarshal(e.Data, &t) == nil && t.To == string(v.Status) {
			if strings.HasPrefix(e.Message, string(v.Status)) {
				return e.Message
			}
			return string(v.Status) + ": " + e.Message
		}
	}
	return string(v.Status)
}

// randomToken is the bearer token of an in-process API: 128 random bits.
func randomToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
