package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/migration"
)

// syncBuffer is a bytes.Buffer safe for the serving goroutine and the test to share.
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

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// serveCLI starts `migrate serve` in-process on a free loopback port and returns its URL; the
// test's cleanup stops it and checks it exited cleanly.
func serveCLI(t *testing.T, conn []string, replica string, extra ...string) string {
	t.Helper()
	url, _ := serveCLILog(t, conn, replica, extra...)
	return url
}

// serveCLILog is serveCLI with extra flags; it also returns serve's stderr (its log).
func serveCLILog(t *testing.T, conn []string, replica string, extra ...string) (string, *syncBuffer) {
	t.Helper()
	work, err := os.MkdirTemp("", "ggv")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(work) })
	var out, errOut syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	args := []string{"serve", "--listen", "127.0.0.1:0", "--work-dir", work}
	if replica != "" { // "" with --clusters, which names the replicas
		args = append(args, "--replica", replica)
	}
	args = append(append(args, conn...), extra...)
	go func() { code <- Execute(ctx, args, IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case c := <-code:
			require.Equal(t, ExitOK, c, out.String()+errOut.String())
			require.Contains(t, out.String(), "controller stopped")
		case <-time.After(90 * time.Second):
			t.Error("serve did not stop")
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := listening.FindStringSubmatch(out.String()); m != nil {
			return m[1], &errOut
		}
		select {
		case c := <-code:
			t.Fatalf("serve exited %d: %s%s", c, out.String(), errOut.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not say where it listens: %s%s", out.String(), errOut.String())
	return "", nil
}

func statusJSON(t *testing.T, url, id string) client.MigrationView {
	t.Helper()
	r := run(t, "", "status", "--server", url, "-o", "json", id)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	var v client.MigrationView
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &v), r.stdout)
	return v
}

func TestServeAndControlCommands(t *testing.T) {
	d := newOrders(t)
	conn := connArgs(t, d)
	t.Setenv(EnvToken, "cli-test-token-0123456789")
	url := serveCLI(t, conn, d.Env.Replica.Addr())
	api, err := client.New(url, "cli-test-token-0123456789", nil)
	require.NoError(t, err)
	ctx := context.Background()

	// submit: a blocked change is refused with its findings; a good one prints its id.
	r := run(t, "", "submit", "--server", url, "-d", d.Name, "ALTER TABLE orders DROP COLUMN note")
	require.Equal(t, ExitBlocked, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "--allow-destructive")
	r = run(t, "", "submit", "--server", url, "-d", d.Name, "ALTER TABLE orders MODIFY qty BIGINT NOT NULL")
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	id, _, _ := strings.Cut(r.stdout, "\t")
	require.Contains(t, r.stderr, "migrate status "+id+" --watch")

	// The table of migrations, text and JSON.
	r = run(t, "", "status", "--server", url)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	require.Regexp(t, id+`\s+`+d.Name+`\.orders\s+ghost`, r.stdout)
	r = run(t, "", "status", "--server", url, "-o", "json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var list []client.MigrationView
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &list))
	require.NotEmpty(t, list)

	// Held at the gate by manual approval; the detail shows the checklist.
	deadline := time.Now().Add(90 * time.Second)
	for v := statusJSON(t, url, id); v.Status != migration.StatusReady || v.Checklist == nil; v = statusJSON(t, url, id) {
		require.False(t, v.Status.Terminal(), "ended early: %s %s", v.Status, v.Error)
		require.True(t, time.Now().Before(deadline), "not ready in time: %s", v.Status)
		time.Sleep(200 * time.Millisecond)
	}
	r = run(t, "", "status", "--server", url, id)
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "cut-over gate (closed")
	require.Regexp(t, `WAIT\s+approval`, r.stdout)

	// A short id, as the TUI and progress lines show it, in any case (issue 13).
	r = run(t, "", "status", "--server", url, strings.ToLower(id[len(id)-8:]))
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, id)
	// The nice ratio while gh-ost waits at the gate with the ghost table in sync.
	r = run(t, "", "nice-ratio", "--server", url, id, "2.5")
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, id+": nice ratio set to 2.5")
	r = run(t, "", "nice-ratio", "--server", url, id, "500")
	require.Equal(t, ExitUsage, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, "nice ratio 500: must be 0-100")
	r = run(t, "", "approve", "--server", url, strings.ToLower(id[len(id)-8:]))
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, id+": approved")
	r = run(t, "", "status", "--server", url, "--watch", "--interval", "200ms", id)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "complete")
	require.Contains(t, r.stdout, "recent events")
	require.Regexp(t, `transition\s+complete in [0-9.]+m?s, 200 rows copied, throttled [0-9.]+m?s`, r.stdout, "the result is the final transition's reason")

	// Cancel: the command returns once it ended; watching it then exits 130.
	views, err := api.Create(ctx, client.CreateRequest{DDL: "ALTER TABLE orders MODIFY customer_id BIGINT NOT NULL", Schema: d.Name})
	require.NoError(t, err)
	second := views[0].ID
	r = run(t, "", "pause", "--server", url, second)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	r = run(t, "", "cancel", "--server", url, second)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "cancelled (status cancelled)")
	r = run(t, "", "status", "--server", url, "--watch", second)
	require.Equal(t, ExitCancelled, r.code, r.stdout+r.stderr)

	// Refusals: unknown id, ended migration, bad arguments, no token.
	r = run(t, "", "pause", "--server", url, "01JZZZZZZZZZZZZZZZZZZZZZZZ")
	require.Equal(t, ExitError, r.code)
	require.Contains(t, r.stderr, "404")
	r = run(t, "", "resume", "--server", url, second)
	require.Equal(t, ExitError, r.code)
	require.Contains(t, r.stderr, "409")
	r = run(t, "", "chunk-size", "--server", url, second, "lots")
	require.Equal(t, ExitUsage, r.code)
	r = run(t, "", "nice-ratio", "--server", url, second, "lots")
	require.Equal(t, ExitUsage, r.code)
	r = run(t, "", "nice-ratio", "--server", url, second, "1")
	require.Equal(t, ExitError, r.code, "an ended migration")
	require.Contains(t, r.stderr, "409")
	r = run(t, "", "approve", "--server", url)
	require.Equal(t, ExitUsage, r.code)
	r = run(t, "", "evict", "--server", url, "nobody")
	require.Equal(t, ExitError, r.code)
	require.Contains(t, r.stderr, "503", "participants are off without a secret")
	t.Setenv(EnvToken, "")
	r = run(t, "", "cancel", "--server", url, second)
	require.Equal(t, ExitError, r.code)
	require.Contains(t, r.stderr, "401")
	r = run(t, "", "status", "--server", "http://127.0.0.1:1")
	require.Equal(t, ExitError, r.code)
	require.Contains(t, r.stderr, "is migrate serve running")
}

func TestServeRefusals(t *testing.T) {
	t.Setenv(EnvToken, "")
	r := run(t, "", "serve", "--listen", "127.0.0.1:0")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "no API token")
	t.Setenv(EnvToken, "cli-test-token-0123456789")
	r = run(t, "", "serve", "--listen", "0.0.0.0:8470")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "--allow-remote")
	r = run(t, "", "serve", "--listen", "127.0.0.1:0", "--hook-networks", "10.0.0.0/8,the-internet")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, `--hook-networks: "the-internet" is neither a CIDR prefix nor an address`)
}
