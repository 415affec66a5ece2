package doctest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config says where and how the blocks of one document run. It is a value; NewSession copies it.
type Config struct {
	// Dir is the working directory of every block.
	Dir string
	// Env is the blocks' environment (os.Environ() form).
	Env []string
	// Rewrite turns a block's text into the text that runs (e.g. the documented port into the
	// sandbox's); nil runs the text as written.
	Rewrite func(string) string
	// Timeout bounds each block (DefaultTimeout when 0).
	Timeout time.Duration
}

// DefaultTimeout bounds a block when Config.Timeout is 0.
const DefaultTimeout = 5 * time.Minute

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("doctest: no working directory")
	}
	if c.Timeout < 0 {
		return errors.New("doctest: negative timeout")
	}
	return nil
}

// Session runs the command blocks of one document in order, passing each block's variables on
// to the next, and stops whatever the blocks left running (a server started with `&`) on Close.
type Session struct {
	cfg   Config
	state string // the file the blocks' variables are kept in
	base  string // the file listing the variables of a fresh shell (not passed on)

	mu     sync.Mutex
	groups []int // process groups of the blocks, stopped by Close
}

// NewSession prepares a session; state lives in a scratch directory of its own.
func NewSession(cfg Config) (*Session, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Rewrite == nil {
		cfg.Rewrite = func(s string) string { return s }
	}
	scratch, err := os.MkdirTemp("", "doctest")
	if err != nil {
		return nil, fmt.Errorf("doctest: %w", err)
	}
	s := &Session{cfg: cfg, state: filepath.Join(scratch, "state.sh"), base: filepath.Join(scratch, "base")}
	cmd := exec.Command("bash", "-c", `compgen -v > "$1"`, "bash", s.base)
	cmd.Env = cfg.Env
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("doctest: bash: %w: %s", err, out)
	}
	return s, nil
}

// Result is what one block did.
type Result struct {
	Script string // the text that ran (after Rewrite)
	Output string // stdout and stderr, interleaved
	Err    error  // a non-zero exit, a timeout, or output that lacks an expected text
}

// prologue restores the variables of the earlier blocks and saves them again when the block
// exits (also on failure); BASH* and the shell's own changing variables are never passed on.
const prologue = `__doctest_save() {
  local v
  for v in $(compgen -v | grep -vxF -f "$__DOCTEST_BASE" | grep -v '^BASH\|^__doctest\|^__DOCTEST'); do
    declare -p "$v" 2>/dev/null
  done > "$__DOCTEST_STATE.new" && mv "$__DOCTEST_STATE.new" "$__DOCTEST_STATE"
}
[ -f "$__DOCTEST_STATE" ] && source "$__DOCTEST_STATE"
trap __doctest_save EXIT
set -eo pipefail
`

// Run runs one command block and checks its exit status and expected output.
func (s *Session) Run(ctx context.Context, b Block) Result {
	script := s.cfg.Rewrite(b.Body)
	res := Result{Script: script}
	if !b.Runs() {
		res.Err = fmt.Errorf("%s: not a block that runs", b.Where())
		return res
	}
	out, err := os.CreateTemp("", "doctest-out")
	if err != nil {
		res.Err = err
		return res
	}
	defer os.Remove(out.Name())
	defer out.Close()

	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	cmd := exec.Command("bash", "-c", prologue+script)
	cmd.Dir = s.cfg.Dir
	cmd.Env = append(append([]string(nil), s.cfg.Env...), "__DOCTEST_STATE="+s.state, "__DOCTEST_BASE="+s.base)
	// A file, not a pipe: Wait must not wait for a server the block left running in the
	// background, which holds the block's stdout.
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		res.Err = fmt.Errorf("%s: %w", b.Where(), err)
		return res
	}
	s.mu.Lock()
	s.groups = append(s.groups, cmd.Process.Pid)
	s.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		err = fmt.Errorf("no end after %s (%w)", s.cfg.Timeout, ctx.Err())
	}
	text, rerr := os.ReadFile(out.Name())
	res.Output = string(text)
	switch {
	case err != nil:
		res.Err = fmt.Errorf("%s: %w", b.Where(), err)
	case rerr != nil:
		res.Err = rerr
	default:
		rewritten := b
		rewritten.Body = script // the documented output names the documented port too
		res.Err = checkExpected(rewritten, res.Output)
	}
	return res
}

// checkExpected names the first `#>` text the output lacks.
func checkExpected(b Block, output string) error {
	for _, want := range b.Expected() {
		if !Matches(want, output) {
			return fmt.Errorf("%s: the output lacks %q", b.Where(), want)
		}
	}
	return nil
}

// Matches reports whether output contains want, where "…" in want stands for any text and a
// line break for a line break with any indentation around it (and a CR before it: HTTP headers).
func Matches(want, output string) bool {
	lines := strings.Split(want, "\n")
	for i, l := range lines {
		parts := strings.Split(l, "…")
		for j, p := range parts {
			parts[j] = regexp.QuoteMeta(strings.TrimSpace(p))
		}
		lines[i] = strings.Join(parts, ".*?")
	}
	return regexp.MustCompile(`(?s)` + strings.Join(lines, `[ \t\r]*\n[ \t]*`)).MatchString(output)
}

// Close stops every process the blocks left running (SIGTERM, then SIGKILL after grace) and
// removes the session's scratch files.
func (s *Session) Close(grace time.Duration) {
	s.mu.Lock()
	groups := s.groups
	s.groups = nil
	s.mu.Unlock()
	for _, g := range groups {
		_ = syscall.Kill(-g, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for _, g := range groups {
		for syscall.Kill(-g, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		_ = syscall.Kill(-g, syscall.SIGKILL)
	}
	_ = os.RemoveAll(filepath.Dir(s.state))
}
