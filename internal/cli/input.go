package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// readDDL returns the DDL text from the arguments, --file (a path or - for stdin) or, when neither
// is given and stdin is not a terminal, from stdin.
func readDDL(args []string, file string, stdin io.Reader, stdinIsTTY bool) (string, error) {
	switch {
	case len(args) > 0 && file != "":
		return "", usageErrorf("give the DDL either as an argument or with --file, not both")
	case len(args) > 0:
		return strings.Join(args, " "), nil
	case file == "-" || (file == "" && !stdinIsTTY):
		b, err := io.ReadAll(stdin)
		if err != nil {
			return "", fmt.Errorf("read DDL from stdin: %w", err)
		}
		if strings.TrimSpace(string(b)) == "" {
			return "", usageErrorf("no DDL on stdin")
		}
		return string(b), nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read DDL: %w", err)
		}
		return string(b), nil
	default:
		return "", usageErrorf("no DDL given: pass it as an argument, with --file, or on stdin")
	}
}
