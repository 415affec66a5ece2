// Package clusterconf reads the configuration file of a controller that runs migrations on
// several clusters (`migrate serve --config FILE`): the clusters by name, each with its primary,
// replicas and credentials, and the state database every controller of the fleet shares.
//
// Credentials are given by reference only, a file (`password_file`) or an environment variable
// (`password_env`), never inline: a configuration file is copied, committed and pasted into
// tickets, a password in it leaks with it. A `password` key is refused with an error that says
// so. The file is JSON (no dependency beyond the standard library); unknown keys are refused, so
// that a misspelt one is not silently ignored.
package clusterconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// ErrInlinePassword refuses a password written in the configuration file.
var ErrInlinePassword = errors.New("clusterconf: a password is written in the file: give it by reference, password_file (a file holding it) or password_env (an environment variable holding it)")

// ErrInvalid is wrapped by every other error of Parse and Validate.
var ErrInvalid = errors.New("clusterconf: invalid configuration")

// Server is a MySQL/MariaDB server and the credentials to reach it.
type Server struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	User string `json:"user"`
	// PasswordFile is a file whose first line is the password (e.g. a Kubernetes Secret mount).
	PasswordFile string `json:"password_file,omitempty"`
	// PasswordEnv is an environment variable holding the password.
	PasswordEnv string `json:"password_env,omitempty"`
}

// Addr is host:port.
func (s Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Password reads the password from its reference ("" when the server has none).
func (s Server) Password() (string, error) {
	switch {
	case s.PasswordFile != "":
		b, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("clusterconf: password of %s: %w", s.Addr(), err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimRight(line, "\r"), nil
	case s.PasswordEnv != "":
		pw, ok := os.LookupEnv(s.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("%w: password of %s: $%s is not set", ErrInvalid, s.Addr(), s.PasswordEnv)
		}
		return pw, nil
	}
	return "", nil
}

func (s Server) validate(what string) error {
	switch {
	case s.Host == "":
		return fmt.Errorf("%s: host is empty", what)
	case s.Port <= 0 || s.Port > 65535:
		return fmt.Errorf("%s: port %d must be 1-65535", what, s.Port)
	case s.User == "":
		return fmt.Errorf("%s: user is empty", what)
	case s.PasswordFile != "" && s.PasswordEnv != "":
		return fmt.Errorf("%s: give password_file or password_env, not both", what)
	}
	return nil
}

// State is the state database: a server and the schema on it.
type State struct {
	Server
	// Database is the schema holding the state (default "_ghostgate").
	Database string `json:"database,omitempty"`
}

// Cluster is one primary and its replicas.
type Cluster struct {
	// Name identifies the cluster in commands, the API, the metrics (label `cluster`) and the
	// state database: 1-64 characters of letters, digits, '-', '_' and '.'.
	Name    string `json:"name"`
	Primary Server `json:"primary"`
	// Replicas are host:port, reached with the primary's credentials; gh-ost reads the first one's
	// binlog unless OnPrimary.
	Replicas  []string `json:"replicas,omitempty"`
	OnPrimary bool     `json:"on_primary,omitempty"`
	// Database is the default schema of unqualified table names.
	Database string `json:"database,omitempty"`
	// MaxConcurrent queues its migrations: at most this many run at once (0: no queue).
	MaxConcurrent int `json:"max_concurrent,omitempty"`
}

// Config is a controller's configuration file.
type Config struct {
	// State is the shared state database; absent: the first cluster's primary, as without a file.
	State    *State    `json:"state,omitempty"`
	Clusters []Cluster `json:"clusters"`
}

var clusterName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if len(c.Clusters) == 0 {
		errs = append(errs, errors.New("no cluster: name at least one under \"clusters\""))
	}
	seen := map[string]bool{}
	for i, cl := range c.Clusters {
		what := fmt.Sprintf("clusters[%d] (%s)", i, cl.Name)
		switch {
		case !clusterName.MatchString(cl.Name):
			errs = append(errs, fmt.Errorf("%s: name %q must be 1-64 letters, digits, '-', '_' or '.'", what, cl.Name))
		case seen[cl.Name]:
			errs = append(errs, fmt.Errorf("%s: name %q is given twice", what, cl.Name))
		}
		seen[cl.Name] = true
		if err := cl.Primary.validate(what + " primary"); err != nil {
			errs = append(errs, err)
		}
		if len(cl.Replicas) == 0 && !cl.OnPrimary {
			errs = append(errs, fmt.Errorf("%s: no replica: name one (gh-ost reads its binlog) or set on_primary", what))
		}
		for _, r := range cl.Replicas {
			if _, p, err := net.SplitHostPort(r); err != nil || p == "" {
				errs = append(errs, fmt.Errorf("%s: replica %q is not host:port", what, r))
			}
		}
		if cl.MaxConcurrent < 0 {
			errs = append(errs, fmt.Errorf("%s: max_concurrent %d must not be negative", what, cl.MaxConcurrent))
		}
	}
	if c.State != nil {
		if err := c.State.Server.validate("state"); err != nil {
			errs = append(errs, err)
		}
		if len(c.State.Database) > 64 {
			errs = append(errs, fmt.Errorf("state: database %q is longer than 64 characters", c.State.Database))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// Cluster returns the cluster named name.
func (c Config) Cluster(name string) (Cluster, bool) {
	for _, cl := range c.Clusters {
		if cl.Name == name {
			return cl, true
		}
	}
	return Cluster{}, false
}

// Parse reads a configuration from JSON and validates it. A "password" key anywhere is refused
// (ErrInlinePassword) before anything else, naming where it is.
func Parse(data []byte) (Config, error) {
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, fmt.Errorf("%w: not JSON: %w", ErrInvalid, err)
	}
	if where := findKey(raw, "password", ""); where != "" {
		return Config{}, fmt.Errorf("%w (at %s)", ErrInlinePassword, where)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return c, c.Validate()
}

// Load reads and parses the file at path.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("clusterconf: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// findKey returns the path of the first object key named key (case-insensitive) in v.
func findKey(v any, key, at string) string {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if strings.EqualFold(k, key) {
				return at + "." + k
			}
			if w := findKey(val, key, at+"."+k); w != "" {
				return w
			}
		}
	case []any:
		for i, val := range x {
			if w := findKey(val, key, fmt.Sprintf("%s[%d]", at, i)); w != "" {
				return w
			}
		}
	}
	return ""
}
