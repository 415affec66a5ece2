// Package shopproc builds the shopsvc binary and runs instances of it as child processes, for
// end-to-end tests and demos: a signal-mode participant has to be a process of its own, since the
// controller signals its pid.
package shopproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
)

// Package is the import path of the binary.
const Package = "github.com/ghostgate/ghostgate/examples/shop/cmd/shopsvc"

// Build compiles shopsvc into dir and returns the binary's path. It must run inside the
// ghostgate module (any test of the module does).
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "shopsvc")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, Package)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("shopproc: go build: %w\n%s", err, out)
	}
	return bin, nil
}

// Args are an instance's settings; each becomes a flag of shopsvc.
type Args struct {
	DSN           string
	Listen        string // "" picks a free loopback port
	ControllerURL string
	Secret        []byte // passed as SHOPSVC_SECRET
	InstanceID    string // "" → shopsvc-<listen address>
	Mode          wire.Mode
	ShedWrites    bool
	RetryAfter    time.Duration // 0: shopsvc's default
	Heartbeat     time.Duration // 0: the controller's suggestion
	Extra         []string      // more flags, verbatim
}

// Proc is a running shopsvc.
type Proc struct {
	cmd    *exec.Cmd
	addr   string
	id     string
	log    *syncBuffer
	exited chan struct{}
	err    error // the process's exit error, set before exited closes
}

// Start runs bin with args and waits (until ctx ends) for it to answer GET /healthz. The
// process is not tied to ctx: stop it with Stop.
func Start(ctx context.Context, bin string, a Args) (*Proc, error) {
	if a.Listen == "" {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		a.Listen = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	id := a.InstanceID
	if id == "" {
		id = "shopsvc-" + a.Listen
	}
	flags := []string{"--dsn", a.DSN, "--listen", a.Listen, "--controller", a.ControllerURL,
		"--instance-id", id, "--mode", string(a.Mode), "--log-level", "debug"}
	if a.ShedWrites {
		flags = append(flags, "--shed-writes")
	}
	if a.RetryAfter > 0 {
		flags = append(flags, "--retry-after", a.RetryAfter.String())
	}
	if a.Heartbeat > 0 {
		flags = append(flags, "--heartbeat", a.Heartbeat.String())
	}
	flags = append(flags, a.Extra...)
	p := &Proc{addr: a.Listen, id: id, log: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, flags...)
	p.cmd.Env = append(os.Environ(), "SHOPSVC_SECRET="+string(a.Secret))
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("shopproc: start: %w", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitHealthy(ctx); err != nil {
		_ = p.Kill()
		return nil, fmt.Errorf("%w\n%s", err, p.Log())
	}
	return p, nil
}

func (p *Proc) waitHealthy(ctx context.Context) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/healthz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("shopproc: shopsvc exited before it was healthy: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("shopproc: shopsvc not healthy: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URL is the instance's base URL, e.g. "http://127.0.0.1:41234".
func (p *Proc) URL() string { return "http://" + p.addr }

// InstanceID is the id the instance registers under.
func (p *Proc) InstanceID() string { return p.id }

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Log is what the process wrote so far (stdout and stderr).
func (p *Proc) Log() string { return p.log.String() }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Exited reports whether the process has ended, and its exit error.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.exited:
		return true, p.err
	default:
		return false, nil
	}
}

// ErrStopTimeout means the process did not exit within the timeout after SIGTERM (it was
// killed).
var ErrStopTimeout = errors.New("shopproc: shopsvc did not exit after SIGTERM")

// Stop sends SIGTERM and waits up to timeout for the exit; past it the process is killed and
// ErrStopTimeout returned. A non-zero exit is returned as the *exec.ExitError.
func (p *Proc) Stop(timeout time.Duration) error {
	if done, err := p.Exited(); done {
		return err
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("shopproc: %w", err)
	}
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		_ = p.Kill()
		return ErrStopTimeout
	}
}

// Kill ends the process with SIGKILL (an instance dying mid-protocol) and waits for it.
func (p *Proc) Kill() error {
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("shopproc: %w", err)
	}
	<-p.exited
	return nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("shopproc: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer is a bytes.Buffer safe for the process's writers and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
