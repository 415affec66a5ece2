package cli

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// EnvConfig names the config file when --config is not given.
const EnvConfig = "GHOSTGATE_CONFIG"

// envName is the environment variable that sets flag name: GHOSTGATE_ + upper case, '-' → '_'
// (--max-lag → GHOSTGATE_MAX_LAG).
func envName(flag string) string {
	return "GHOSTGATE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyDefaults fills every flag not given on the command line from, in order, its environment
// variable and the config file. The config file holds settings that are not per run (servers,
// thresholds, directories): one `flag-name = value` a line, '#' starts a comment.
func applyDefaults(fs *pflag.FlagSet, configFile string) error {
	if configFile == "" {
		configFile = os.Getenv(EnvConfig)
	}
	fileValues := map[string]string{}
	if configFile != "" {
		var err error
		if fileValues, err = readConfig(configFile); err != nil {
			return err
		}
		for name := range fileValues {
			if fs.Lookup(name) == nil {
				return usageErrorf("config %s: unknown setting %q (settings are flag names without --)", configFile, name)
			}
		}
	}
	var errs []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		v, ok := os.LookupEnv(envName(f.Name))
		src := "$" + envName(f.Name)
		if !ok {
			v, ok = fileValues[f.Name]
			src = configFile
		}
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %s: %v", src, f.Name, err))
		}
	})
	if len(errs) > 0 {
		return usageErrorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func readConfig(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErrorf("config: %v", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, usageErrorf("config %s:%d: want `name = value`, got %q", path, n, line)
		}
		out[strings.TrimPrefix(strings.TrimSpace(k), "--")] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return out, nil
}
