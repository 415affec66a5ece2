package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghostgate/ghostgate/client"
)

// LogsOptions are the flags of `migrate logs`.
type LogsOptions struct {
	IO       IO
	Client   ClientOptions
	Tail     int
	Follow   bool
	Interval time.Duration
}

func newLogsCmd(streams IO) *cobra.Command {
	opts := &LogsOptions{IO: streams}
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print the gh-ost worker log of a migration",
		Long: `logs prints the log of a migration's gh-ost worker as the controller that runs it keeps it
(worker.log in the migration's directory under serve's --work-dir): gh-ost's own messages and
its status lines. --tail prints the last lines only; --follow keeps printing what is added until
the migration has ended. Native (instant, inplace) migrations have no worker and no log.`,
		Example: `  migrate logs yd9y5dhx --tail 50
  migrate logs 01JB3K6ZP7M2YH2QJ4X6N0V8RT --follow`,
		Args: exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if opts.Tail < 0 {
				return usageErrorf("--tail must not be negative")
			}
			if opts.Interval <= 0 {
				return usageErrorf("--interval must be positive")
			}
			return logsRun(c.Context(), opts, args[0])
		},
	}
	opts.Client.addFlags(cmd.Flags())
	cmd.Flags().IntVarP(&opts.Tail, "tail", "n", 0, "print only the last N lines (0: all)")
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "keep printing until the migration has ended")
	cmd.Flags().DurationVar(&opts.Interval, "interval", time.Second, "how often --follow reads")
	return cmd
}

func logsRun(ctx context.Context, opts *LogsOptions, id string) error {
	c, err := opts.Client.client()
	if err != nil {
		return err
	}
	text, next, err := c.WorkerLog(ctx, id, 0, opts.Tail)
	if err != nil {
		return apiError(c, err)
	}
	if _, err := opts.IO.Out.Write(text); err != nil {
		return err
	}
	for opts.Follow {
		v, err := c.Get(ctx, id)
		if err != nil {
			return apiError(c, err)
		}
		ended := v.Status.Terminal() || v.Interrupted
		if text, next, err = readOn(ctx, c, id, next); err != nil {
			return err
		}
		if _, err := opts.IO.Out.Write(text); err != nil {
			return err
		}
		if ended && len(text) == 0 {
			return nil // what the worker wrote before it ended has been printed
		}
		select {
		case <-ctx.Done():
			return ErrCancelled
		case <-time.After(opts.Interval):
		}
	}
	return nil
}

func readOn(ctx context.Context, c *client.Client, id string, offset int64) ([]byte, int64, error) {
	text, next, err := c.WorkerLog(ctx, id, offset, 0)
	if err != nil {
		return nil, offset, apiError(c, err)
	}
	return text, next, nil
}
