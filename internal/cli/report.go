package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/cobra"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/internal/errtext"
)

// errorJSON is how a command run with -o json reports an error, on stdout where its consumer
// reads JSON (issue 13: a script got text it could not parse).
type errorJSON struct {
	Error    string `json:"error"`
	Code     string `json:"code"` // usage, blocked, failed, cancelled, error; or the API's code
	ExitCode int    `json:"exit_code"`
}

// reportError prints err once: a line without package prefixes, and for a usage error a hint
// to --help rather than the whole usage (issue 13: 40 lines of flags buried the one that
// mattered); as JSON on stdout when the command's output is JSON. Blocked plans were printed
// with their findings already.
func reportError(streams IO, cmd *cobra.Command, err error, code int) {
	if errors.Is(err, ErrBlocked) {
		return
	}
	msg := errtext.Text(err)
	if jsonOutput(cmd) {
		_ = json.NewEncoder(streams.Out).Encode(errorJSON{Error: msg, Code: errorCode(err), ExitCode: code})
		return
	}
	fmt.Fprintf(streams.ErrOut, "error: %s\n", msg)
	var usage *UsageError
	if errors.As(err, &usage) && cmd != nil {
		fmt.Fprintf(streams.ErrOut, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
}

// jsonOutput reports whether cmd was asked for JSON output.
func jsonOutput(cmd *cobra.Command) bool {
	if cmd == nil {
		return false
	}
	f := cmd.Flags().Lookup("output")
	return f != nil && f.Value.String() == "json"
}

// errorCode is the machine-readable kind of err.
func errorCode(err error) string {
	var usage *UsageError
	var failed *MigrationFailedError
	var api *client.APIError
	switch {
	case errors.As(err, &usage):
		return "usage"
	case errors.Is(err, ErrCancelled):
		return "cancelled"
	case errors.As(err, &failed):
		return "failed"
	case errors.As(err, &api) && api.Code != "":
		return api.Code
	}
	return "error"
}

// QuietDriver stops the MySQL driver from logging to stderr on its own ("[mysql] packets.go:58:
// unexpected EOF"): every such failure also comes back as an error, which is reported once,
// in the command's words. The driver's logger is process-wide: call this once, from main.
func QuietDriver() {
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
}
