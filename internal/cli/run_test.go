package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// runArgs is `migrate run --yes` against the test's database, with the sandbox replica and a
// private work dir.
func runArgs(t *testing.T, conn []string, extra ...string) []string {
	t.Helper()
	work, err := os.MkdirTemp("", "ggc")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(work) })
	args := append([]string{"run", "--yes", "--work-dir", work}, conn...)
	return append(args, extra...)
}

func TestRunCommand(t *testing.T) {
	d := newOrders(t)
	conn := connArgs(t, d)
	replica := []string{"--replica", d.Env.Replica.Addr()}

	// instant, text output
	r := run(t, "", runArgs(t, conn, append(replica, "ALTER TABLE orders ADD COLUMN c INT NULL")...)...)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "complete")

	// ghost, JSON lines: a plan, events, a final summary
	r = run(t, "", runArgs(t, conn, append(replica, "-o", "json", "ALTER TABLE orders MODIFY qty BIGINT NOT NULL")...)...)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	var types []string
	var summary map[string]any
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var line map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line), sc.Text())
		types = append(types, line["type"].(string))
		if line["type"] == "summary" {
			summary = line
		}
	}
	require.Equal(t, "plan", types[0])
	require.Equal(t, "summary", types[len(types)-1])
	require.Equal(t, "complete", summary["status"])
	require.Equal(t, "ghost", summary["strategy"])
	require.EqualValues(t, 200, summary["rows_copied"])

	// a rename runs natively once its finding is overridden
	r = run(t, "", runArgs(t, conn, append(replica, "RENAME TABLE orders TO orders_v2")...)...)
	require.Equal(t, ExitBlocked, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "--allow-incompatible")
	r = run(t, "", runArgs(t, conn, append(replica, "--allow-incompatible", "RENAME TABLE orders TO orders_v2")...)...)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	var n int
	require.NoError(t, d.Primary.QueryRow(`SELECT COUNT(*) FROM orders_v2`).Scan(&n))
	require.Equal(t, 200, n)
}

func TestRunCommandRefusals(t *testing.T) {
	d := newOrders(t)
	conn := connArgs(t, d)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no confirmation possible", append(append([]string{"run"}, conn...), "ALTER TABLE orders ADD c INT NULL"), ExitUsage, "--yes"},
		{"blocked", runArgs(t, conn, "ALTER TABLE orders DROP COLUMN note"), ExitBlocked, ""},
		{"bad threshold", runArgs(t, conn, "--max-load", "Threads_running", "ALTER TABLE orders ADD c INT NULL"), ExitUsage, "--max-load"},
		{"bad replica", runArgs(t, conn, "--replica", "nohost", "ALTER TABLE orders ADD c INT NULL"), ExitUsage, "--replica"},
		{"unknown table", runArgs(t, conn, "ALTER TABLE nope ADD c INT NULL"), ExitError, "nope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, "", c.args...)
			require.Equal(t, c.code, r.code, r.stdout+r.stderr)
			require.Contains(t, r.stderr, c.want)
		})
	}
	// The table is untouched by all of the above.
	var cols int
	require.NoError(t, d.Primary.QueryRow(`SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'orders'`, d.Name).Scan(&cols))
	require.Equal(t, 4, cols)

	// Interrupted before it could start: the cancelled exit code.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut strings.Builder
	code := Execute(ctx, runArgs(t, conn, "ALTER TABLE orders ADD c INT NULL"), IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	require.Equal(t, ExitCancelled, code, errOut.String())
}

func TestConfigFileAndEnvironment(t *testing.T) {
	d := newOrders(t)
	dir := t.TempDir()
	cfg := dir + "/ghostgate.conf"
	conf := "# servers\nhost = " + d.Env.Primary.Host + "\nport = " + itoa(d.Env.Primary.Port) + "\nuser = " + d.Env.Primary.User + "\n"
	require.NoError(t, os.WriteFile(cfg, []byte(conf), 0o600))
	t.Setenv(EnvPassword, d.Env.Primary.Password)
	t.Setenv("GHOSTGATE_DATABASE", d.Name)
	r := run(t, "", "plan", "--config", cfg, "ALTER TABLE orders ADD COLUMN c INT NULL")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "INSTANT")

	require.NoError(t, os.WriteFile(cfg, []byte("bogus-setting = 1\n"), 0o600))
	r = run(t, "", "plan", "--config", cfg, "ALTER TABLE orders ADD COLUMN c INT NULL")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "bogus-setting")
}

func itoa(n int) string { return strconv.Itoa(n) }
