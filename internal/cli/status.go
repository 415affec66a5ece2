package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/store"
)

// EnvServer is the controller's URL when --server is not given.
const EnvServer = "GHOSTGATE_SERVER"

// ClientOptions say how to reach a running `migrate serve`.
type ClientOptions struct {
	Server    string
	TokenFile string
}

func (o *ClientOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Server, "server", client.DefaultServer, "URL of migrate serve (or $"+EnvServer+")")
	fs.StringVar(&o.TokenFile, "token-file", "", "file whose first line is the API token (or $"+EnvToken+")")
}

// client builds the API client; the token is optional for reads on loopback.
func (o *ClientOptions) client() (*client.Client, error) {
	token, err := secret(o.TokenFile, EnvToken, "--token-file")
	if err != nil {
		return nil, err
	}
	c, err := client.New(o.Server, token, nil)
	if err != nil {
		return nil, &UsageError{Err: err}
	}
	return c, nil
}

// apiError makes a client error say which server it came from.
func apiError(c *client.Client, err error) error {
	var api *client.APIError
	if errors.As(err, &api) || errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%w (is migrate serve running at %s?)", err, c.Server())
}

// StatusOptions are the flags of `migrate status`.
type StatusOptions struct {
	IO       IO
	Client   ClientOptions
	Output   string
	Watch    bool
	Interval time.Duration
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

--watch refreshes every --interval until the migration ends (without an ID: until no migration
is active); its exit code is then that of the migration: 0 complete, 4 failed, 130 cancelled.`,
		Example: `  migrate status
  migrate status 01JB3K6ZP7M2YH2QJ4X6N0V8RT --watch
  migrate status -o json | jq '.[] | select(.interrupted)'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if opts.Output != "text" && opts.Output != "json" {
				return usageErrorf("--output %q: want text or json", opts.Output)
			}
			if opts.Interval <= 0 {
				return usageErrorf("--interval must be positive")
			}
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			return runStatus(c.Context(), opts, id)
		},
	}
	opts.Client.addFlags(cmd.Flags())
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "text", "text or json")
	cmd.Flags().BoolVarP(&opts.Watch, "watch", "w", false, "refresh until the migration ends")
	cmd.Flags().DurationVar(&opts.Interval, "interval", 2*time.Second, "refresh interval of --watch")
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
		views, err := c.List(ctx)
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

func writeList(w io.Writer, format string, views []client.MigrationView) error {
	if format == "json" {
		if views == nil {
			views = []client.MigrationView{}
		}
		return json.NewEncoder(w).Encode(views)
	}
	if len(views) == 0 {
		_, err := fmt.Fprintln(w, "no migrations")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTABLE\tSTRATEGY\tSTATUS\tPROGRESS\tNOTE")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s.%s\t%s\t%s\t%s\t%s\n", v.ID, v.Schema, v.Table, v.Strategy, v.Status, progressCell(v), noteCell(v))
	}
	return tw.Flush()
}

func progressCell(v client.MigrationView) string {
	if v.Progress == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%% %s", 100*v.Progress.Ratio, v.Progress.Phase)
}

func noteCell(v client.MigrationView) string {
	switch {
	case v.Interrupted:
		return "INTERRUPTED: clean up with " + v.Cleanup
	case v.Paused:
		return "paused"
	case v.Throttle != nil && v.Throttle.Throttle:
		return "throttled: " + v.Throttle.Reason
	case v.Checklist != nil && v.Status == migration.StatusReady:
		return "gate: " + v.Checklist.Summary()
	case v.Error != "":
		return v.Error
	case v.Reason != "":
		return v.Reason
	}
	return ""
}

func writeDetail(w io.Writer, format string, v client.MigrationView) error {
	if format == "json" {
		return json.NewEncoder(w).Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, val string) {
		if val != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, val)
		}
	}
	row("migration", v.ID)
	row("table", v.Schema+"."+v.Table)
	row("strategy", v.Strategy)
	row("status", string(v.Status))
	row("ddl", strings.ReplaceAll(v.DDL, "\n", " "))
	row("owner", v.Owner.String())
	row("created", v.CreatedAt.Local().Format(time.DateTime))
	if !v.FinishedAt.IsZero() {
		row("finished", v.FinishedAt.Local().Format(time.DateTime))
	}
	if v.Progress != nil {
		row("progress", progressLine(*v.Progress))
	}
	if v.Throttle != nil && v.Throttle.Throttle {
		row("throttle", "on: "+v.Throttle.Reason)
	}
	row("approval", v.Approval)
	row("error", v.Error)
	if v.Interrupted {
		row("interrupted", v.Reason)
		row("clean up", v.Cleanup)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	writeChecklist(w, v)
	writeParticipants(w, v)
	return nil
}

// lastEvents pages through a migration's event log and keeps the last n (none on an error).
func lastEvents(ctx context.Context, c *client.Client, id string, n int) []store.Event {
	var last []store.Event
	for since := int64(0); ; {
		r, err := c.Events(ctx, id, since, 0)
		if err != nil {
			return nil
		}
		last = append(last, r.Events...)
		if len(last) > n {
			last = last[len(last)-n:]
		}
		if len(r.Events) == 0 || r.Next <= since {
			return last
		}
		since = r.Next
	}
}

// writeRecentEvents prints the last n events of a migration's log.
func writeRecentEvents(w io.Writer, evs []store.Event, n int) {
	if len(evs) == 0 {
		return
	}
	if len(evs) > n {
		evs = evs[len(evs)-n:]
	}
	fmt.Fprintln(w, "\nrecent events")
	for _, e := range evs {
		fmt.Fprintf(w, "  %s  %-17s %s\n", e.Time.Local().Format("15:04:05"), e.Kind, e.Message)
	}
}

func writeChecklist(w io.Writer, v client.MigrationView) {
	if v.Checklist == nil {
		return
	}
	state := "closed: " + v.Checklist.Summary()
	if v.Checklist.Open {
		state = "open"
	}
	fmt.Fprintf(w, "\ncut-over gate (%s)\n", state)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, l := range v.Checklist.Lines {
		mark := "ok"
		if !l.OK {
			mark = "WAIT"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", mark, l.Name, l.Value, l.Limit, l.Detail)
	}
	_ = tw.Flush()
}

func writeParticipants(w io.Writer, v client.MigrationView) {
	if len(v.Participants) == 0 {
		return
	}
	fmt.Fprintln(w, "\nparticipants")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, p := range v.Participants {
		live := "live"
		if !p.Live {
			live = "LAPSED"
		}
		answer := "-"
		if p.Acked {
			answer = map[bool]string{true: "ready", false: "NOT READY"}[p.Ready]
		}
		fmt.Fprintf(tw, "  %s\t%s@%s\t%s\t%s\t%s %s\t%s\n", p.InstanceID, p.Service, p.Host, p.Mode, live, p.Phase, answer, p.Message)
	}
	_ = tw.Flush()
}
