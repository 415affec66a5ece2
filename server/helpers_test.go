package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/internal/loadgen"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/metrics"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/runner/ghost"
	"github.com/ghostgate/ghostgate/runner/throttle"
	"github.com/ghostgate/ghostgate/server"
	"github.com/ghostgate/ghostgate/store"
)

const token = "test-token-0123456789"

var secret = []byte("0123456789abcdef-participant-secret")

// fixture is a seeded table in a database of its own, a store of its own, a controller on an
// httptest listener and a client with the token.
type fixture struct {
	d       *sandboxtest.DB
	admin   *sql.DB
	stName  string
	store   *store.Store
	ctrl    *server.Controller
	srv     *httptest.Server
	api     *client.Client
	anon    *client.Client // no token
	closeFn func()
	mod     func(*server.Options) // changes the controller's options (newFixtureWith)
}

func newFixture(t *testing.T, rows int64) *fixture { return newFixtureWith(t, rows, nil) }

// newFixtureWith is newFixture with the controller's options changed by mod.
func newFixtureWith(t *testing.T, rows int64, mod func(*server.Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	env := sandboxtest.Env(t)
	d := sandboxtest.NewOn(t, env)
	spec := loadgen.Simple("items")
	require.NoError(t, loadgen.Create(ctx, d.Primary, spec))
	if rows > 0 {
		require.NoError(t, loadgen.Seed(ctx, d.Primary, spec, rows))
		require.NoError(t, loadgen.Analyze(ctx, d.Primary, spec.Table))
	}
	d.WaitReplica(t)
	f := &fixture{d: d, admin: sandboxtest.Open(t, env.Primary.DSN("")), stName: stateName(d.Name)}
	t.Cleanup(func() { _, _ = f.admin.Exec("DROP DATABASE IF EXISTS `" + f.stName + "`") })
	st, err := store.Open(ctx, f.admin, store.Options{Database: f.stName})
	require.NoError(t, err)
	f.store, f.mod = st, mod
	f.start(t)
	return f
}

func stateName(db string) string {
	n := "_gg_" + db
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}

// start builds a runner, a registry, a controller and the API on an httptest server; the test's
// cleanup closes them (cancelling what still runs).
func (f *fixture) start(t *testing.T) {
	t.Helper()
	env := f.d.Env
	work, err := os.MkdirTemp("", "ggs") // short: gh-ost's unix socket lives below it
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(work) })
	cfg := runner.Config{
		Primary: ghost.Endpoint(env.Primary), Replicas: []ghost.Endpoint{ghost.Endpoint(env.Replica)}, WorkDir: work,
		Throttle: throttle.Config{MaxLag: 1500 * time.Millisecond, HeartbeatSchema: f.stName},
	}
	r, err := runner.New(cfg, f.store, metrics.New(nil))
	require.NoError(t, err)
	reg, err := cutover.NewRegistry(cutover.RegistryConfig{Secret: secret})
	require.NoError(t, err)
	opts := server.Options{DB: f.admin, Store: f.store, Runner: r, Registry: reg,
		Gate: server.GateDefaults{Approval: "manual", Checksum: true}}
	if f.mod != nil {
		f.mod(&opts)
	}
	ctrl, err := server.New(opts)
	require.NoError(t, err)
	h, err := server.NewHandler(ctrl, server.HandlerOptions{Token: token, OpenReads: true, Registry: reg})
	require.NoError(t, err)
	f.ctrl, f.srv = ctrl, httptest.NewServer(h)
	f.api, err = client.New(f.srv.URL, token, nil)
	require.NoError(t, err)
	f.anon, err = client.New(f.srv.URL, "", nil)
	require.NoError(t, err)
	f.closeFn = func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.NoError(t, ctrl.Close(ctx))
		f.srv.Close()
		reg.Close()
		_ = r.Close()
	}
	t.Cleanup(f.closeFn)
}

func (f *fixture) create(t *testing.T, ddl string, mod func(*client.CreateRequest)) client.MigrationView {
	t.Helper()
	req := client.CreateRequest{DDL: ddl, Schema: f.d.Name}
	if mod != nil {
		mod(&req)
	}
	views, err := f.api.Create(context.Background(), req)
	require.NoError(t, err)
	require.Len(t, views, 1)
	return views[0]
}

// waitFor polls the migration until cond holds, failing the test after timeout.
func (f *fixture) waitFor(t *testing.T, id string, timeout time.Duration, what string, cond func(client.MigrationView) bool) client.MigrationView {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, err := f.api.Get(context.Background(), id)
		require.NoError(t, err)
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("migration %s: %s not reached within %v; last status %s, error %q", id, what, timeout, v.Status, v.Error)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (f *fixture) waitStatus(t *testing.T, id string, want migration.Status, timeout time.Duration) client.MigrationView {
	t.Helper()
	return f.waitFor(t, id, timeout, "status "+string(want), func(v client.MigrationView) bool {
		if v.Status.Terminal() && v.Status != want {
			t.Fatalf("migration %s ended %s (want %s): %s", id, v.Status, want, v.Error)
		}
		return v.Status == want
	})
}

// raw sends a request and returns the status and the decoded error message (if any).
func (f *fixture) raw(t *testing.T, method, path, auth, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var er client.ErrorResponse
	_ = json.Unmarshal(b, &er)
	return resp.StatusCode, er.Error
}

func (f *fixture) count(t *testing.T) int64 {
	t.Helper()
	var n int64
	require.NoError(t, f.d.Primary.QueryRow("SELECT COUNT(*) FROM items").Scan(&n))
	return n
}

func eventKinds(evs []store.Event) map[store.EventKind]int {
	out := map[store.EventKind]int{}
	for _, e := range evs {
		out[e.Kind]++
	}
	return out
}
