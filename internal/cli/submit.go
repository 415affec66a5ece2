package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/planner"
)

// SubmitOptions are the flags of `migrate submit`.
type SubmitOptions struct {
	IO         IO
	Client     ClientOptions
	File       string
	Schema     string
	Cluster    string
	Approval   string
	OldVersion string
	NewVersion string
	Output     string
	Lint       LintOptions
	Watch      bool
	Interval   time.Duration
}

func newSubmitCmd(streams IO) *cobra.Command {
	opts := &SubmitOptions{IO: streams}
	cmd := &cobra.Command{
		Use:   "submit [DDL]",
		Short: "Hand a schema change to migrate serve, which plans and runs it",
		Long: `submit sends DDL to a running 'migrate serve'. The controller plans it exactly as
'migrate plan' does, refuses plans blocked by findings (they are printed), and otherwise starts
one migration per table and prints their ids. Follow them with 'migrate status ID --watch' or
'migrate tui', or pass --watch: submit then follows each migration as 'status --watch' does and
exits with its outcome (0 complete, 4 failed, 130 cancelled).

It needs the API token (--token-file or $` + EnvToken + `).`,
		Example: `  migrate submit -d shop --file migrations/042.sql
  migrate submit -d shop --approval 02:00-04:00 "ALTER TABLE orders MODIFY quantity BIGINT NOT NULL DEFAULT 1"
  migrate submit -d shop --old-version v1 --new-version v2 --file expand.sql -o json`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if opts.Output != "text" && opts.Output != "json" {
				return usageErrorf("--output %q: want text or json", opts.Output)
			}
			if opts.Interval <= 0 {
				return usageErrorf("--interval must be positive")
			}
			ddl, err := readDDL(args, opts.File, streams.In, streams.InTTY)
			if err != nil {
				return err
			}
			return submitRun(c.Context(), opts, ddl)
		},
	}
	fs := cmd.Flags()
	opts.Client.addFlags(fs)
	opts.Lint.addFlags(fs)
	fs.StringVarP(&opts.File, "file", "f", "", "read the DDL from this file (- for stdin)")
	fs.StringVarP(&opts.Schema, "database", "d", "", "default database for unqualified table names")
	fs.StringVar(&opts.Cluster, "cluster", "", "the cluster to run on, by its name in serve's --clusters file (default: its first)")
	fs.StringVar(&opts.Approval, "approval", "", "cut-over approval: auto, manual or a daily window HH:MM-HH:MM (default: the server's)")
	fs.StringVar(&opts.OldVersion, "old-version", "", "schema version the participants run before the change (default v1)")
	fs.StringVar(&opts.NewVersion, "new-version", "", "schema version after the change (default v2)")
	fs.StringVarP(&opts.Output, "output", "o", "text", "text or json")
	fs.BoolVarP(&opts.Watch, "watch", "w", false, "follow the migrations until they end; the exit code is their outcome")
	fs.DurationVar(&opts.Interval, "interval", 2*time.Second, "refresh interval of --watch")
	return cmd
}

func submitRun(ctx context.Context, opts *SubmitOptions, ddl string) error {
	c, err := opts.Client.client()
	if err != nil {
		return err
	}
	po := opts.Lint.options()
	views, err := c.Create(ctx, client.CreateRequest{
		DDL: ddl, Schema: opts.Schema, Cluster: opts.Cluster, Overrides: po.Overrides, AllowDropTable: po.AllowDropTable, RebuildMaxRows: po.RebuildMaxRows,
		Approval: opts.Approval, OldVersion: opts.OldVersion, NewVersion: opts.NewVersion,
	})
	if err != nil {
		var api *client.APIError
		if errors.As(err, &api) && len(api.Plans) > 0 {
			var plans []*planner.Plan
			if jerr := json.Unmarshal(api.Plans, &plans); jerr == nil {
				_ = writePlans(opts.IO.Out, opts.Output, plans)
				return ErrBlocked
			}
		}
		return apiError(c, err)
	}
	ids := make([]string, len(views))
	for i, v := range views {
		ids[i] = v.ID
	}
	if opts.Output == "json" {
		if err := json.NewEncoder(opts.IO.Out).Encode(views); err != nil {
			return err
		}
	} else {
		for _, v := range views {
			fmt.Fprintf(opts.IO.Out, "%s\t%s.%s\t%s\t%s\n", v.ID, v.Schema, v.Table, v.Strategy, v.Status)
		}
		if !opts.Watch {
			fmt.Fprintf(opts.IO.ErrOut, "follow with: migrate status %s --watch\n", strings.Join(ids, " "))
		}
	}
	if !opts.Watch {
		return nil
	}
	return watchAll(ctx, opts, ids)
}

// watchAll follows each migration to its end, in order, and returns the worst outcome: failed
// before cancelled before complete.
func watchAll(ctx context.Context, opts *SubmitOptions, ids []string) error {
	var worst error
	for _, id := range ids {
		so := &StatusOptions{IO: opts.IO, Client: opts.Client, Output: opts.Output, Watch: true, Interval: opts.Interval}
		err := runStatus(ctx, so, id)
		var failed *MigrationFailedError
		switch {
		case errors.Is(err, ErrCancelled) && ctx.Err() != nil:
			return err // interrupted: stop watching
		case errors.As(err, &failed) || err != nil && worst == nil:
			worst = err
		}
	}
	return worst
}
