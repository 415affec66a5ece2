package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// EnvConfig names the config file when --config is not given.
const EnvConfig = "GHOSTGATE_CONFIG"

// envName is the environment variable that sets flag name: GHOSTGATE_ + upper case, '-' → '_'
// (--max-lag → GHOSTGATE_MAX_LAG).
func envName(flag string) string {
	return "GHOSTGATE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// safetyFlags are the flags that let something through that is refused by default. Taken from
// the environment or a file, they are said on stderr (issue 13: a $GHOSTGATE_YES left in a
// shell confirmed runs nobody meant to confirm, silently).
var safetyFlags = []string{"yes", "allow-destructive", "allow-incompatible", "allow-data-loss",
	"allow-drop-table", "allow-remote", "drop-old-table"}

// applyDefaults fills every flag of cmd not given on the command line from, in order, its
// environment variable, the config file and (for the connection) the [client] section of
// --defaults-file. The config file holds settings that are not per run (servers, thresholds,
// directories): one `flag-name = value` a line. One file serves every command: a setting that
// another command has is ignored here; one that no command has is an error (a typo).
func applyDefaults(cmd *cobra.Command, configFile string, errOut io.Writer) error {
	fs := cmd.Flags()
	if configFile == "" {
		configFile = os.Getenv(EnvConfig)
	}
	fileValues := map[string]string{}
	if configFile != "" {
		var err error
		if fileValues, err = readConfig(configFile); err != nil {
			return err
		}
		known := allFlags(cmd.Root())
		for name := range fileValues {
			if !known[name] {
				return usageErrorf("config %s: unknown setting %q: no command has a flag --%s (settings are flag names without --)", configFile, name, name)
			}
		}
	}
	cnf, err := clientDefaults(fs, func(name string) (string, bool) {
		v, _, ok := lookupDefault(name, fileValues, configFile, myCnf{})
		return v, ok
	})
	if err != nil {
		return err
	}
	var errs []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		v, src, ok := lookupDefault(f.Name, fileValues, configFile, cnf)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %s: %v", src, f.Name, err))
			return
		}
		if slices.Contains(safetyFlags, f.Name) && f.Value.String() == "true" {
			fmt.Fprintf(errOut, "note: --%s is on, from %s\n", f.Name, src)
		}
	})
	if len(errs) > 0 {
		return usageErrorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// lookupDefault finds the value of flag name in the environment, the config file, then the
// my.cnf [client] values, and says where it came from.
func lookupDefault(name string, file map[string]string, configFile string, cnf myCnf) (v, src string, ok bool) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		return v, "$" + envName(name), true
	}
	if v, ok := file[name]; ok {
		return v, configFile, true
	}
	if v, ok := cnf.values[name]; ok {
		return v, cnf.path + " [client]", true
	}
	return "", "", false
}

// allFlags is the name of every flag of every command under root.
func allFlags(root *cobra.Command) map[string]bool {
	out := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { out[f.Name] = true })
		c.PersistentFlags().VisitAll(func(f *pflag.Flag) { out[f.Name] = true })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return out
}

// readConfig reads `name = value` lines. A line whose first character (after spaces) is '#' or
// ';' is a comment, and so is what follows a '#' that has a space before it; a '#' inside a
// value (a URL fragment, a password file's path) is part of it, and so is everything between
// quotes (issue 13: "a#b" was cut at the '#').
func readConfig(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErrorf("config: %v", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, usageErrorf("config %s:%d: want `name = value`, got %q", path, n, line)
		}
		val, err := configValue(strings.TrimSpace(v))
		if err != nil {
			return nil, usageErrorf("config %s:%d: %v", path, n, err)
		}
		out[strings.TrimPrefix(strings.TrimSpace(k), "--")] = val
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return out, nil
}

// configValue is a value as written after '=': quoted (everything up to the closing quote,
// then at most a comment), or bare (up to a " #" comment).
func configValue(v string) (string, error) {
	if v != "" && (v[0] == '"' || v[0] == '\'') {
		end := strings.IndexByte(v[1:], v[0])
		if end < 0 {
			return "", fmt.Errorf("value %s: no closing %c", v, v[0])
		}
		rest := strings.TrimSpace(v[end+2:])
		if rest != "" && rest[0] != '#' {
			return "", fmt.Errorf("value %s: text after the closing quote", v)
		}
		return v[1 : end+1], nil
	}
	for i := 1; i < len(v); i++ {
		if v[i] == '#' && (v[i-1] == ' ' || v[i-1] == '\t') {
			return strings.TrimSpace(v[:i]), nil
		}
	}
	return v, nil
}
