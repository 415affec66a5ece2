package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ghostgate/ghostgate/internal/version"
)

// newVersionCmd is `migrate version`: the build that runs (also `migrate --version`).
func newVersionCmd(streams IO) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print which build of migrate this is",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			info := version.Get()
			switch output {
			case "text":
				fmt.Fprintln(streams.Out, info.String())
				return nil
			case "json":
				return json.NewEncoder(streams.Out).Encode(info)
			}
			return usageErrorf("--output %q: want text or json", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

// setVersion makes `migrate --version` print what `migrate version` prints.
func setVersion(root *cobra.Command) {
	info := version.Get()
	root.Version = info.Version
	root.SetVersionTemplate(info.String() + "\n")
}
