package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/examples/shop"
	"github.com/ghostgate/ghostgate/examples/shop/internal/ctltest"
	"github.com/ghostgate/ghostgate/examples/shop/shopproc"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/server"
)

var secret = []byte("shopsvc-binary-test-secret-0123")

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParse(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secretFile, append(secret, '\n'), 0o600))
	dsn := "u:p@tcp(127.0.0.1:3306)/shop"

	o, err := parse([]string{"--dsn", dsn, "--secret-file", secretFile, "--mode", "signal", "--shed-writes"}, env(nil), io.Discard)
	require.NoError(t, err)
	require.Equal(t, secret, o.Secret, "trailing newline dropped")
	require.Equal(t, wire.ModeSignal, o.Mode)
	require.True(t, o.ShedWrites)
	require.Equal(t, "127.0.0.1:8080", o.Listen)
	// issue 13: a default shopsvc must reach a default `migrate serve`.
	require.Equal(t, "http://"+server.DefaultListen, o.ControllerURL)

	o, err = parse(nil, env(map[string]string{"SHOPSVC_DSN": dsn, "SHOPSVC_SECRET": string(secret),
		"SHOPSVC_LISTEN": "127.0.0.1:9", "SHOPSVC_SHED_WRITES": "true", "SHOPSVC_RETRY_AFTER": "3s"}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9", o.Listen)
	require.True(t, o.ShedWrites)
	require.Equal(t, 3*time.Second, o.RetryAfter)
	require.Equal(t, wire.ModeHTTP, o.Mode)

	o, err = parse([]string{"--listen", "127.0.0.1:10"}, env(map[string]string{"SHOPSVC_DSN": dsn, "SHOPSVC_SECRET": "x", "SHOPSVC_LISTEN": "127.0.0.1:9"}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:10", o.Listen, "a flag wins over the environment")

	o, err = parse([]string{"--dsn", dsn, "--controller", "http://a:8470,http://b:8470"}, env(map[string]string{"SHOPSVC_SECRET": "x"}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, "http://a:8470", o.ControllerURL, "the controllers of a fleet, the first one used first")
	require.Equal(t, []string{"http://b:8470"}, o.ControllerURLs)

	for name, args := range map[string][]string{
		"no secret":  {"--dsn", dsn},
		"bad mode":   {"--dsn", dsn, "--mode", "pigeon"},
		"no dsn":     {},
		"extra args": {"--dsn", dsn, "oops"},
		"bad level":  {"--dsn", dsn, "--log-level", "loud"},
		"no file":    {"--dsn", dsn, "--secret-file", filepath.Join(dir, "missing")},
	} {
		e := map[string]string{"SHOPSVC_SECRET": "x"}
		if name == "no secret" {
			e = nil
		}
		_, err := parse(args, env(e), io.Discard)
		require.Error(t, err, name)
	}
	require.Equal(t, 2, run(context.Background(), []string{"--mode", "pigeon"}, env(nil), io.Discard))
	require.Equal(t, 0, run(context.Background(), []string{"--help"}, env(nil), io.Discard))
}

// TestBinarySignalMode builds shopsvc and runs it in signal mode: it registers with its pid,
// survives SIGUSR2 with nothing pending, answers a prepare delivered by SIGUSR2 (fetching it from
// the controller and acknowledging it), sheds writes until the commit, and on SIGTERM
// deregisters and exits 0.
func TestBinarySignalMode(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, shop.Schema)
	ctl, err := ctltest.New(secret, 3*time.Second)
	require.NoError(t, err)
	t.Cleanup(ctl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bin, err := shopproc.Build(ctx, t.TempDir())
	require.NoError(t, err)
	p, err := shopproc.Start(ctx, bin, shopproc.Args{DSN: db.Env.Primary.DSN(db.Name), ControllerURL: ctl.URL(),
		Secret: secret, Mode: wire.ModeSignal, ShedWrites: true, Heartbeat: 200 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Kill() })

	reg, err := ctl.WaitRegistered(ctx, p.InstanceID())
	require.NoError(t, err, p.Log())
	require.Equal(t, p.PID(), reg.PID)
	require.Equal(t, wire.ModeSignal, reg.Mode)

	// A wake-up with nothing pending: the process fetches (204) and lives on.
	before := ctl.Count("pending")
	require.NoError(t, p.Signal(syscall.SIGUSR2))
	require.Eventually(t, func() bool { return ctl.Count("pending") > before }, 5*time.Second, 10*time.Millisecond, p.Log())
	exited, _ := p.Exited()
	require.False(t, exited, p.Log())
	requireStatus(t, http.StatusOK, http.MethodGet, p.URL()+"/healthz")

	ack, err := ctl.Deliver(ctx, p.InstanceID(), ctltest.Request("m1", db.Name, shop.Table, wire.PhasePrepare, shop.OldVersion, shop.NewVersion))
	require.NoError(t, err, p.Log())
	require.True(t, ack.Ready, ack.Message)
	requireStatus(t, http.StatusTooManyRequests, http.MethodDelete, p.URL()+"/orders/1")
	requireStatus(t, http.StatusNotFound, http.MethodGet, p.URL()+"/orders/1")
	ack, err = ctl.Deliver(ctx, p.InstanceID(), ctltest.Request("m1", db.Name, shop.Table, wire.PhaseCommit, shop.OldVersion, shop.NewVersion))
	require.NoError(t, err, p.Log())
	require.True(t, ack.Ready, ack.Message)
	requireStatus(t, http.StatusNotFound, http.MethodDelete, p.URL()+"/orders/1")

	require.NoError(t, p.Stop(10*time.Second), p.Log())
	_, still := ctl.Registration(p.InstanceID())
	require.False(t, still, "deregistered on SIGTERM")
}

func requireStatus(t *testing.T, want int, method, url string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, want, resp.StatusCode, "%s %s", method, url)
}
