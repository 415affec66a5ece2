package cli

import (
	"math"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/ghostgate/ghostgate/runner/ghost"
)

func newNiceRatioCmd(streams IO) *cobra.Command {
	opts := &ControlOptions{IO: streams}
	cmd := &cobra.Command{
		Use:   "nice-ratio ID RATIO",
		Short: "Change gh-ost's sleep after each copy chunk of a running migration",
		Long: `nice-ratio sets how long gh-ost sleeps after each copy chunk, in multiples of the chunk's own
time (0-` + strconv.Itoa(ghost.MaxNiceRatio) + `), from the next chunk on: 0 sleeps not at all, 1 halves the copy rate, 4 copies
at a fifth of it. It is the lever for an application that suffers from the copy more than the
throttler sees: on the sandbox under 1500 ops/s, 4 took the application's p99 from 4.2-4.6x its
own to 2.1-2.3x, for a copy 3.6-3.9x as long (BENCHMARKS.md, run 7). The copy's chunk timing and ETA
follow the new ratio. It lasts for the run (a worker resumed after a crash keeps it); a
controller that takes the migration over starts from the run's --nice-ratio again.
It needs the API token.`,
		Example: "  migrate nice-ratio yd9y5dhx 4   # gentler: sleep 4x each chunk's time\n" +
			"  migrate nice-ratio yd9y5dhx 0   # full speed again",
		Args: exactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			if err := opts.validate(); err != nil {
				return err
			}
			r, err := strconv.ParseFloat(args[1], 64)
			if err != nil || math.IsNaN(r) || math.IsInf(r, 0) {
				return usageErrorf("nice ratio %q: want a number, 0-%d", args[1], ghost.MaxNiceRatio)
			}
			if r < 0 || r > ghost.MaxNiceRatio {
				return usageErrorf("nice ratio %v: must be 0-%d", r, ghost.MaxNiceRatio)
			}
			api, err := opts.Client.client()
			if err != nil {
				return err
			}
			m, err := api.SetNiceRatio(c.Context(), args[0], r)
			if err != nil {
				return apiError(api, err)
			}
			return opts.print(m, "nice ratio set to "+strconv.FormatFloat(r, 'g', -1, 64))
		},
	}
	opts.addFlags(cmd.Flags())
	return cmd
}
