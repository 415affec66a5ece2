package bench

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	_ "github.com/go-sql-driver/mysql" // the child opens its own pool

	"github.com/ghostgate/ghostgate/internal/loadgen"
)

// The foreground workload runs in a child process (this test binary re-executed, as the gh-ost
// worker is), so that its CPU time is its own and not added to ghostgate's in-process controller.
const loadChildEnv = "GG_BENCH_LOAD_CHILD" // its value: the JSON of loadArgs

// loadArgs is what the child needs to run the workload.
type loadArgs struct {
	DSN     string `json:"dsn"`
	Table   string `json:"table"`
	Rows    int64  `json:"rows"`
	Rate    int    `json:"rate"`
	Workers int    `json:"workers"`
}

// maybeRunLoadChild runs the workload and exits when this process is a load child: "ready" on
// stdout once started, the Stats as JSON on stdout once stdin closes.
func maybeRunLoadChild() {
	v := os.Getenv(loadChildEnv)
	if v == "" {
		return
	}
	if err := runLoadChild(v); err != nil {
		fmt.Fprintln(os.Stderr, "load child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runLoadChild(v string) error {
	var a loadArgs
	if err := json.Unmarshal([]byte(v), &a); err != nil {
		return err
	}
	db, err := sql.Open("mysql", a.DSN)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(a.Workers + 2)
	db.SetMaxIdleConns(a.Workers + 2)
	w, err := loadgen.NewWriter(db, loadgen.Config{
		Spec: loadgen.Simple(a.Table), Workers: a.Workers, Mix: loadgen.Mix{Read: 1, Update: 1}, Rate: float64(a.Rate),
		Untracked: true, KeyRange: a.Rows, OpTimeout: 5 * time.Minute,
	})
	if err != nil {
		return err
	}
	if err := w.Start(context.Background()); err != nil {
		return err
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it
	res, err := w.Stop()
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res.Stats)
}

// loadChild is a running foreground workload.
type loadChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	pid   string
}

func startLoadChild(a loadArgs) (*loadChild, error) {
	arg, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), loadChildEnv+"="+string(arg))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &loadChild{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), pid: strconv.Itoa(cmd.Process.Pid)}
	if line, err := c.out.ReadString('\n'); err != nil || line != "ready\n" {
		_ = stdin.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("load child did not start: %q %v %s", line, err, stderr.String())
	}
	return c, nil
}

// cpu is the child's CPU time so far.
func (c *loadChild) cpu() (time.Duration, error) {
	t, err := readProcTimes(c.pid)
	return t.self, err
}

// stop ends the workload and returns what it measured.
func (c *loadChild) stop() (loadgen.Stats, error) {
	_ = c.stdin.Close()
	var st loadgen.Stats
	derr := json.NewDecoder(c.out).Decode(&st)
	if err := c.cmd.Wait(); err != nil {
		return st, fmt.Errorf("load child: %w", err)
	}
	return st, derr
}
