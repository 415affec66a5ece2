package cli

import (
	"strconv"

	"github.com/spf13/cobra"
)

func newChunkSizeCmd(streams IO) *cobra.Command {
	opts := &ControlOptions{IO: streams}
	cmd := &cobra.Command{
		Use:   "chunk-size ID N",
		Short: "Change gh-ost's copy chunk size of a running migration",
		Long:  "chunk-size sets the rows gh-ost copies per chunk (10-100000) while it runs: smaller chunks\nhold row locks for less time, larger ones copy faster. It needs the API token.",
		Args:  exactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			if err := opts.validate(); err != nil {
				return err
			}
			n, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil {
				return usageErrorf("chunk size %q: want a number", args[1])
			}
			api, err := opts.Client.client()
			if err != nil {
				return err
			}
			m, err := api.SetChunkSize(c.Context(), args[0], n)
			if err != nil {
				return apiError(api, err)
			}
			return opts.print(m, "chunk size set to "+strconv.FormatInt(n, 10))
		},
	}
	opts.addFlags(cmd.Flags())
	return cmd
}
