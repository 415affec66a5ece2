package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ghostgate/ghostgate/client"
)

// controlVerb is one of the commands that steer a migration of a running controller.
type controlVerb struct {
	use, short, long, done string
	do                     func(ctx context.Context, c *client.Client, id string) (client.MigrationView, error)
}

var controlVerbs = []controlVerb{
	{use: "approve ID", short: "Approve the cut-over of a migration (manual approval)", done: "approved",
		long: "approve gives the manual approval the cut-over gate waits for. It may be given before the\nmigration reaches the gate; the rename still waits for every other condition.",
		do: func(ctx context.Context, c *client.Client, id string) (client.MigrationView, error) {
			return c.Approve(ctx, id)
		}},
	{use: "pause ID", short: "Hold a running migration back (a manual throttle) until resume", done: "paused",
		long: "pause throttles the migration: gh-ost stops copying and applying within a second and keeps\nits place; the original table is untouched. resume lets it go on.",
		do: func(ctx context.Context, c *client.Client, id string) (client.MigrationView, error) {
			return c.Pause(ctx, id)
		}},
	{use: "resume ID", short: "Lift a pause", done: "resumed",
		long: "resume lifts a pause; the other throttle conditions (load, replica lag) still apply.",
		do: func(ctx context.Context, c *client.Client, id string) (client.MigrationView, error) {
			return c.Resume(ctx, id)
		}},
	{use: "cancel ID", short: "Cancel a migration; the original table stays as it was", done: "cancelled",
		long: "cancel stops the migration and waits until it has ended: the original table is left as it\nwas, gh-ost's tables are dropped, and participants that prepared are told to abort.",
		do: func(ctx context.Context, c *client.Client, id string) (client.MigrationView, error) {
			return c.Cancel(ctx, id)
		}},
	{use: "revert ID", short: "Undo a completed gh-ost migration, keeping every write made since", done: "revert started as a new migration",
		long: "revert starts a new migration that undoes the completed gh-ost migration ID: gh-ost replays\nevery write made on the new table since the cut-over into the kept original table, then swaps\nthe two back through the same cut-over gate (approval, participants, checksum). It needs the\noriginal kept (the default; not with --drop-old-table), gh-ost's checkpoint table and the\nbinlogs since the cut-over; without them it changes nothing and says why. Follow the new\nmigration with 'migrate status'; approve its cut-over like any other.",
		do: func(ctx context.Context, c *client.Client, id string) (client.MigrationView, error) {
			return c.Revert(ctx, id)
		}},
}

// newControlCmds builds approve, pause, resume, cancel, chunk-size, nice-ratio and evict.
func newControlCmds(streams IO) []*cobra.Command {
	var cmds []*cobra.Command
	for _, v := range controlVerbs {
		cmds = append(cmds, newControlCmd(streams, v))
	}
	return append(cmds, newChunkSizeCmd(streams), newNiceRatioCmd(streams), newEvictCmd(streams))
}

// ControlOptions are the flags of approve, pause, resume, cancel, chunk-size, nice-ratio and evict.
type ControlOptions struct {
	IO     IO
	Client ClientOptions
	Output string
}

func (o *ControlOptions) addFlags(fs *pflag.FlagSet) {
	o.Client.addFlags(fs)
	fs.StringVarP(&o.Output, "output", "o", "text", "text or json (the migration as the API answers it)")
}

func (o *ControlOptions) validate() error {
	if o.Output != "text" && o.Output != "json" {
		return usageErrorf("--output %q: want text or json", o.Output)
	}
	return nil
}

// print writes the migration after an action: a line of text, or the API's JSON.
func (o *ControlOptions) print(m client.MigrationView, text string) error {
	if o.Output == "json" {
		return json.NewEncoder(o.IO.Out).Encode(m)
	}
	_, err := fmt.Fprintf(o.IO.Out, "%s: %s (status %s)\n", m.ID, text, m.Status)
	return err
}

func newControlCmd(streams IO, v controlVerb) *cobra.Command {
	opts := &ControlOptions{IO: streams}
	cmd := &cobra.Command{
		Use: v.use, Short: v.short, Long: v.long + "\n\nID may be any unique prefix or suffix of the id. It needs the API token (--token-file or $" + EnvToken + ").",
		Args: exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := opts.validate(); err != nil {
				return err
			}
			api, err := opts.Client.client()
			if err != nil {
				return err
			}
			m, err := v.do(c.Context(), api, args[0])
			if err != nil {
				return apiError(api, err)
			}
			return opts.print(m, v.done)
		},
	}
	opts.addFlags(cmd.Flags())
	return cmd
}

// exactArgs is cobra.ExactArgs as a usage error (exit code 2, usage printed).
func exactArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(c, args); err != nil {
			return &UsageError{Err: err}
		}
		return nil
	}
}
