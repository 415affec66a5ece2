package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

// evicted is the JSON answer of `migrate evict -o json` (the API answers 204 with no body).
type evicted struct {
	InstanceID string `json:"instance_id"`
	Evicted    bool   `json:"evicted"`
}

func newEvictCmd(streams IO) *cobra.Command {
	opts := &ControlOptions{IO: streams}
	cmd := &cobra.Command{
		Use:   "evict INSTANCE",
		Short: "Remove a dead service instance so it no longer holds a cut-over gate closed",
		Long: "evict removes a participant registration: the DBA's decision that an instance which stopped\n" +
			"answering (its lease lapsed) must not keep the gate closed. A live instance that heartbeats\n" +
			"again registers anew. It needs the API token.",
		Args: exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := opts.validate(); err != nil {
				return err
			}
			api, err := opts.Client.client()
			if err != nil {
				return err
			}
			if err := api.Evict(c.Context(), args[0]); err != nil {
				return apiError(api, err)
			}
			if opts.Output == "json" {
				return json.NewEncoder(streams.Out).Encode(evicted{InstanceID: args[0], Evicted: true})
			}
			_, err = fmt.Fprintf(streams.Out, "%s: evicted\n", args[0])
			return err
		},
	}
	opts.addFlags(cmd.Flags())
	return cmd
}
