// Package sandbox starts and describes the private MariaDB primary + replica pair that tests and
// the demo run against. The pair itself is managed by scripts/sandbox.sh (which also installs
// mariadb-server when it is missing); this package runs that script and reads the settings it
// writes, so that `go test ./...` works on a fresh machine without a separate setup step.
package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Server is one MariaDB server of the pair.
type Server struct {
	Host     string
	Port     int
	User     string
	Password string
}

// Addr is host:port.
func (s Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// DSN is a go-sql-driver/mysql DSN for database db (may be empty), with params appended
// (e.g. "multiStatements=true").
func (s Server) DSN(db string, params ...string) string {
	dsn := fmt.Sprintf("%s:%s@tcp(%s)/%s", s.User, s.Password, s.Addr(), db)
	p := append([]string{"parseTime=true"}, params...)
	return dsn + "?" + strings.Join(p, "&")
}

// Env is the running pair.
type Env struct {
	Dir     string
	Primary Server
	Replica Server
}

// ErrNoScript means the sandbox script could not be found from the working directory.
var ErrNoScript = errors.New("sandbox: scripts/sandbox.sh not found (set GG_SANDBOX_SCRIPT)")

// Dir is the sandbox data directory: $GG_SANDBOX_DIR or the script's default.
func Dir() string {
	if d := os.Getenv("GG_SANDBOX_DIR"); d != "" {
		return d
	}
	return "/tmp/ghostgate-sandbox"
}

// Up starts the default pair (idempotently) with scripts/sandbox.sh and returns its settings.
// The script honours GG_SANDBOX_DIR and GG_SANDBOX_PORT from the environment.
func Up(ctx context.Context) (Env, error) {
	return UpAt(ctx, Dir(), 0)
}

// UpAt starts a pair in dir with its primary on port (0: the script's default) and the replica
// on port+1; env adds settings of the script (e.g. "GG_SANDBOX_PERFORMANCE_SCHEMA=OFF"). Tests that break replication on purpose use their own pair so that they cannot
// disturb tests running in parallel against the default one.
func UpAt(ctx context.Context, dir string, port int, env ...string) (Env, error) {
	script, err := findScript()
	if err != nil {
		return Env{}, err
	}
	cmd := exec.CommandContext(ctx, "bash", script, "up")
	cmd.Env = append(append(os.Environ(), env...), "GG_SANDBOX_DIR="+dir)
	if port != 0 {
		cmd.Env = append(cmd.Env, "GG_SANDBOX_PORT="+strconv.Itoa(port))
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return Env{}, fmt.Errorf("sandbox: %s up: %w\n%s", script, err, out)
	}
	return Load(filepath.Join(dir, "env"))
}

// Down stops the pair in dir (only processes started from that directory) and keeps its data:
// a later UpAt restarts it from there.
func Down(ctx context.Context, dir string) error { return runScript(ctx, dir, "down") }

// Destroy stops the pair in dir (only processes started from that directory) and deletes it.
func Destroy(ctx context.Context, dir string) error {
	if err := runScript(ctx, dir, "destroy"); err != nil {
		return err
	}
	_ = os.Remove(dir + ".lock")
	return nil
}

func runScript(ctx context.Context, dir, verb string) error {
	script, err := findScript()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "bash", script, verb)
	cmd.Env = append(os.Environ(), "GG_SANDBOX_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sandbox: %s %s: %w\n%s", script, verb, err, out)
	}
	return nil
}

// FreePortPair asks the kernel for a free loopback port p whose neighbour p+1 is free too (a
// pair's replica listens on p+1).
func FreePortPair() (int, error) {
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("sandbox: free port: %w", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1)))
		_ = l.Close()
		if err == nil {
			_ = l2.Close()
			return p, nil
		}
	}
	return 0, errors.New("sandbox: no two adjacent free ports found")
}

// Load reads the env file written by `scripts/sandbox.sh up`.
func Load(path string) (Env, error) {
	f, err := os.Open(path)
	if err != nil {
		return Env{}, fmt.Errorf("sandbox: read settings: %w (is the sandbox up? run scripts/sandbox.sh up)", err)
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = strings.Trim(v, "'")
		}
	}
	if err := sc.Err(); err != nil {
		return Env{}, fmt.Errorf("sandbox: read settings: %w", err)
	}
	server := func(prefix string) (Server, error) {
		port, err := strconv.Atoi(kv[prefix+"_PORT"])
		if err != nil {
			return Server{}, fmt.Errorf("sandbox: %s: bad %s_PORT %q", path, prefix, kv[prefix+"_PORT"])
		}
		return Server{Host: kv[prefix+"_HOST"], Port: port, User: kv["GG_USER"], Password: kv["GG_PASSWORD"]}, nil
	}
	p, err := server("GG_PRIMARY")
	if err != nil {
		return Env{}, err
	}
	r, err := server("GG_REPLICA")
	if err != nil {
		return Env{}, err
	}
	return Env{Dir: filepath.Dir(path), Primary: p, Replica: r}, nil
}

// findScript looks for scripts/sandbox.sh in $GG_SANDBOX_SCRIPT or in the working directory
// and its parents (tests run in their package directory).
func findScript() (string, error) {
	if s := os.Getenv("GG_SANDBOX_SCRIPT"); s != "" {
		return s, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		candidate := filepath.Join(dir, "scripts", "sandbox.sh")
		if _, err := os.Stat(candidate); err == nil {
			return candidate, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoScript
		}
		dir = parent
	}
}
