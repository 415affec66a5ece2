package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/migration"
)

// StatusOptions are the flags of `migrate status`.
type StatusOptions struct {
	IO       IO
	Client   ClientOptions
	Output   string
	Watch    bool
	Interval time.Duration
	// The list's filters: passed to the API, which applies them (GET /v1/migrations).
	Limit   int
	Status  []string
	Table   string
	Cluster string
}

func newStatusCmd(streams IO) *cobra.Command {
	opts := &StatusOptions{IO: streams}
	cmd := &cobra.Command{
		Use:   "status [ID]",
		Short: "Show the migrations of a running controller, or one migration in detail",
		Long: `status asks a running 'migrate serve' for its migrations: a table of all of them, or, with an
ID, one migration in detail with its progress, throttle decision, cut-over checklist and
participants. Interrupted migrations (their controller died) are marked, with the command
that cleans them up.

The list is newest first; --status, --table and --limit narrow it. An ID may be any unique
prefix or suffix of one, in any case (the 8-character tail the TUI shows).

--watch refreshes every --interval until the migration ends (without an ID: until no migration
is active); its exit code is then that of the migration: 0 complete, 4 failed, 130 cancelled.`,
		Example: `  migrate status
  migrate status --status running,ready --table shop.orders --limit 5
  migrate status yd9y5dhx --watch
  migrate status -o json | jq '.[] | select(.interrupted)'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if opts.Output != "text" && opts.Output != "json" {
				return usageErrorf("--output %q: want text or json", opts.Output)
			}
			if opts.Interval <= 0 {
				return usageErrorf("--interval must be positive")
			}
			if opts.Limit < 0 {
				return usageErrorf("--limit must not be negative")
			}
			id := ""
			if len(args) == 1 {
				id = args[0]
				if opts.Limit != 0 || len(opts.Status) > 0 || opts.Table != "" || opts.Cluster != "" {
					return usageErrorf("--limit, --status, --table and --cluster narrow the list: not with an ID")
				}
			}
			return runStatus(c.Context(), opts, id)
		},
	}
	opts.Client.addFlags(cmd.Flags())
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "text", "text or json")
	cmd.Flags().BoolVarP(&opts.Watch, "watch", "w", false, "refresh until the migration ends")
	cmd.Flags().DurationVar(&opts.Interval, "interval", 2*time.Second, "refresh interval of --watch")
	cmd.Flags().IntVar(&opts.Limit, "limit", 0, "list at most this many migrations, newest first (default: the server's, 500)")
	cmd.Flags().StringSliceVar(&opts.Status, "status", nil, "list only migrations in these statuses (comma-separated: queued, planning, running, ready, cutting_over, complete, failed, cancelled)")
	cmd.Flags().StringVar(&opts.Table, "table", "", "list only the migrations of this table (table or schema.table)")
	cmd.Flags().StringVar(&opts.Cluster, "cluster", "", "list only the migrations of this cluster (serve --clusters)")
	return cmd
}

func runStatus(ctx context.Context, opts *StatusOptions, id string) error {
	c, err := opts.Client.client()
	if err != nil {
		return err
	}
	for first := true; ; first = false {
		done, err := statusOnce(ctx, opts, c, id, !first)
		if err != nil || !opts.Watch {
			return err
		}
		if errors.Is(done, errEnded) {
			return nil
		}
		if done != nil {
			return done
		}
		select {
		case <-ctx.Done():
			return ErrCancelled
		case <-time.After(opts.Interval):
		}
	}
}

func (o *StatusOptions) listOptions() client.ListOptions {
	lo := client.ListOptions{Limit: o.Limit, Table: o.Table, Cluster: o.Cluster}
	for _, s := range o.Status {
		lo.Status = append(lo.Status, migration.Status(strings.TrimSpace(s)))
	}
	return lo
}

// statusOnce prints one view. While watching, done is non-nil once there is nothing left to
// watch: errEnded for a completed migration (mapped to nil by the caller), else its outcome.
func statusOnce(ctx context.Context, opts *StatusOptions, c *client.Client, id string, again bool) (done error, err error) {
	w := opts.IO.Out
	if again && opts.Output == "text" {
		if opts.IO.OutTTY {
			fmt.Fprint(w, "\033[H\033[2J") // a terminal shows the latest view only
		} else {
			fmt.Fprintln(w)
		}
	}
	if id == "" {
		views, err := c.ListWith(ctx, opts.listOptions())
		if err != nil {
			return nil, apiError(c, err)
		}
		if err := writeList(w, opts.Output, views); err != nil {
			return nil, err
		}
		for _, v := range views {
			if v.Live {
				return nil, nil
			}
		}
		return watchEnd(migration.StatusComplete, ""), nil
	}
	v, err := c.Get(ctx, id)
	if err != nil {
		return nil, apiError(c, err)
	}
	if err := writeDetail(w, opts.Output, v); err != nil {
		return nil, err
	}
	if opts.Output == "text" {
		// The latest decisions (throttle, gate, transitions with their reasons; the final one
		// carries the result) from the event log.
		writeRecentEvents(w, lastEvents(ctx, c, id, 8), 8)
	}
	if v.Status.Terminal() || v.Interrupted {
		return watchEnd(v.Status, v.Error), nil
	}
	return nil, nil
}

// errEnded stops a watch on a completed migration; runStatus turns it into success.
var errEnded = errors.New("ended")

func watchEnd(s migration.Status, msg string) error {
	switch s {
	case migration.StatusFailed:
		return &MigrationFailedError{Err: errors.New(msg)}
	case migration.StatusCancelled:
		return fmt.Errorf("%w: %s", ErrCancelled, msg)
	}
	return errEnded
}
