package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
)

// TestListWatchJSONAndLogs: the CLI conventions of issue 13 against a running serve: status
// newest first with --limit/--status/--table, submit --watch, -o json on the control commands,
// and the worker log.
func TestListWatchJSONAndLogs(t *testing.T) {
	d := newOrders(t)
	conn := connArgs(t, d)
	t.Setenv(EnvToken, "cli-test-token-0123456789")
	url := serveCLI(t, conn, d.Env.Replica.Addr())

	// submit --watch follows the migration to its end; its exit code is the outcome.
	r := run(t, "", "submit", "--server", url, "-d", d.Name, "--watch", "--interval", "200ms", "ALTER TABLE orders ADD COLUMN c1 INT NULL")
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	first, _, _ := strings.Cut(r.stdout, "\t")
	require.Contains(t, r.stdout, "complete")
	require.NotContains(t, r.stderr, "follow with", "it follows by itself")
	r = run(t, "", "submit", "--server", url, "-d", d.Name, "--approval", "auto", "--watch", "--interval", "200ms",
		"ALTER TABLE orders MODIFY qty BIGINT NOT NULL")
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	second, _, _ := strings.Cut(r.stdout, "\t")
	require.Regexp(t, `complete in [0-9.]+m?s, 200 rows copied`, r.stdout)

	// status: newest first, and the filters reach the server.
	r = run(t, "", "status", "--server", url)
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Less(t, strings.Index(r.stdout, second), strings.Index(r.stdout, first), "newest first:\n%s", r.stdout)
	list := func(args ...string) []client.MigrationView {
		t.Helper()
		r := run(t, "", append([]string{"status", "--server", url, "-o", "json"}, args...)...)
		require.Equal(t, ExitOK, r.code, r.stderr)
		var vs []client.MigrationView
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &vs), r.stdout)
		return vs
	}
	// The store is the primary's _ghostgate, shared with other tests: narrow to this table.
	table := d.Name + ".orders"
	require.Len(t, list("--limit", "1", "--table", table), 1)
	require.Equal(t, second, list("--limit", "1", "--table", table)[0].ID)
	require.Len(t, list("--status", "complete", "--table", table), 2)
	require.Empty(t, list("--status", "running,failed", "--table", table))
	require.Empty(t, list("--table", d.Name+".nope"))
	r = run(t, "", "status", "--server", url, "--status", "done")
	require.Equal(t, ExitError, r.code)
	require.Contains(t, r.stderr, `status "done"`)
	r = run(t, "", "status", "--server", url, "--limit", "2", second)
	require.Equal(t, ExitUsage, r.code)

	// logs: the gh-ost worker's log, its tail; a native migration has none.
	r = run(t, "", "logs", "--server", url, strings.ToLower(second[len(second)-8:]))
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "gh-ost")
	whole := r.stdout
	r = run(t, "", "logs", "--server", url, "--tail", "3", second)
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, 3, strings.Count(r.stdout, "\n"), r.stdout)
	require.True(t, strings.HasSuffix(whole, r.stdout))
	r = run(t, "", "logs", "--server", url, "--follow", "--interval", "100ms", second)
	require.Equal(t, ExitOK, r.code, "an ended migration's log is printed and --follow stops: %s", r.stderr)
	require.Equal(t, whole, r.stdout)
	r = run(t, "", "logs", "--server", url, first)
	require.Equal(t, ExitError, r.code)
	require.Contains(t, r.stderr, "runs without a gh-ost worker")

	// -o json on the control commands: the migration as the API answers it.
	views, err := apiClient(t, url).Create(t.Context(), client.CreateRequest{DDL: "ALTER TABLE orders MODIFY customer_id BIGINT NOT NULL", Schema: d.Name})
	require.NoError(t, err)
	third := views[0].ID
	for _, verb := range []string{"pause", "resume"} {
		r = run(t, "", verb, "--server", url, "-o", "json", third)
		require.Equal(t, ExitOK, r.code, r.stderr)
		var v client.MigrationView
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &v), r.stdout)
		require.Equal(t, third, v.ID)
		require.Equal(t, verb == "pause", v.Paused, verb)
	}
	r = run(t, "", "cancel", "--server", url, "-o", "json", third[len(third)-6:])
	require.Equal(t, ExitOK, r.code, r.stderr)
	var v client.MigrationView
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &v), r.stdout)
	require.Equal(t, "cancelled", string(v.Status))
	r = run(t, "", "approve", "--server", url, "-o", "yaml", third)
	require.Equal(t, ExitUsage, r.code)
}

func apiClient(t *testing.T, url string) *client.Client {
	t.Helper()
	c, err := client.New(url, "cli-test-token-0123456789", nil)
	require.NoError(t, err)
	return c
}

// TestRebuildMaxRowsFlags: serve's --rebuild-max-rows is the default of requests, submit's
// overrides it; both reach the planner (a rebuilding INPLACE change on 200 rows goes to gh-ost
// above the threshold, stays native below it).
func TestRebuildMaxRowsFlags(t *testing.T) {
	d := newOrders(t)
	d.Exec(t, "ANALYZE TABLE orders")
	conn := connArgs(t, d)
	t.Setenv(EnvToken, "cli-test-token-0123456789")
	url := serveCLI(t, conn, d.Env.Replica.Addr(), "--rebuild-max-rows", "10")
	const rebuild = "ALTER TABLE orders MODIFY note VARCHAR(100) NOT NULL DEFAULT ''" // NULL-ability: a rebuild

	r := run(t, "", "submit", "--server", url, "-d", d.Name, "-o", "json", rebuild)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	var vs []client.MigrationView
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &vs), r.stdout)
	require.Equal(t, "ghost", vs[0].Strategy, "serve --rebuild-max-rows 10: 200 rows go to gh-ost")
	r = run(t, "", "cancel", "--server", url, vs[0].ID)
	require.Equal(t, ExitOK, r.code, r.stderr)

	r = run(t, "", "submit", "--server", url, "-d", d.Name, "-o", "json", "--rebuild-max-rows", "100000", rebuild)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &vs), r.stdout)
	require.Equal(t, "inplace", vs[0].Strategy, "submit --rebuild-max-rows wins over serve's")

	r = run(t, "", "serve", "--listen", "127.0.0.1:0", "--rebuild-max-rows", "-1")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "--rebuild-max-rows -1")
}
