package cli

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/migration"
)

func newChunkSizeCmd(streams IO) *cobra.Command {
	cmd := newSetCmd(streams, func(arg string) (int64, error) {
		n, err := strconv.ParseInt(arg, 10, 64)
		if err != nil {
			return 0, usageErrorf("chunk size %q: want a number", arg)
		}
		return n, nil
	}, (*client.Client).SetChunkSize, func(n int64) string { return "chunk size set to " + strconv.FormatInt(n, 10) })
	cmd.Use = "chunk-size ID N"
	cmd.Short = "Change gh-ost's copy chunk size of a running migration"
	cmd.Long = "chunk-size sets the rows gh-ost copies per chunk (10-100000) while it runs: smaller chunks\nhold row locks for less time, larger ones copy faster. The size stays as set (no longer sized\nby time) for the rest of the migration, through a worker resumed after a crash and a controller\nthat takes the migration over. It needs the API token."
	return cmd
}

func newNiceRatioCmd(streams IO) *cobra.Command {
	cmd := newSetCmd(streams, func(arg string) (float64, error) {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil {
			return 0, usageErrorf("nice ratio %q: want a number, 0-%d", arg, migration.MaxNiceRatio)
		}
		if err := migration.CheckNiceRatio(r); err != nil {
			return 0, usageErrorf("%v", err)
		}
		return r, nil
	}, (*client.Client).SetNiceRatio, func(r float64) string { return "nice ratio set to " + strconv.FormatFloat(r, 'g', -1, 64) })
	cmd.Use = "nice-ratio ID RATIO"
	cmd.Short = "Change gh-ost's sleep after each copy chunk of a running migration"
	cmd.Long = `nice-ratio sets how long gh-ost sleeps after each copy chunk, in multiples of the chunk's own
time (0-` + strconv.Itoa(migration.MaxNiceRatio) + `), from the next chunk on: 0 sleeps not at all, 1 halves the copy rate, 4 copies
at a fifth of it. It is the lever for an application that suffers from the copy more than the
throttler sees: on the sandbox under 1500 ops/s, 4 took the application's p99 from 4.2-4.6x its
own to 2.1-2.3x, for a copy 3.6-3.9x as long (BENCHMARKS.md, run 7). The copy's chunk timing and
ETA follow the new ratio. It stays set for the rest of the migration: a worker resumed after a
crash and a controller that takes the migration over start from it, not from --nice-ratio.
It needs the API token.`
	cmd.Example = "  migrate nice-ratio yd9y5dhx 4   # gentler: sleep 4x each chunk's time\n" +
		"  migrate nice-ratio yd9y5dhx 0   # full speed again"
	return cmd
}

// newSetCmd is a command that sets one value of a running migration (ID VALUE): parse reads the
// value (a usage error when it cannot), set sends it, done says what was done. The caller gives
// it its name and help.
func newSetCmd[V any](streams IO, parse func(string) (V, error),
	set func(*client.Client, context.Context, string, V) (client.MigrationView, error), done func(V) string) *cobra.Command {
	opts := &ControlOptions{IO: streams}
	cmd := &cobra.Command{
		Args: exactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			if err := opts.validate(); err != nil {
				return err
			}
			v, err := parse(args[1])
			if err != nil {
				return err
			}
			api, err := opts.Client.client()
			if err != nil {
				return err
			}
			m, err := set(api, c.Context(), args[0], v)
			if err != nil {
				return apiError(api, err)
			}
			return opts.print(m, done(v))
		},
	}
	opts.addFlags(cmd.Flags())
	return cmd
}
