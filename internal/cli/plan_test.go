package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

type result struct {
	code   int
	stdout string
	stderr string
}

// run executes the command line in-process, as the binary would.
func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := IO{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut, InTTY: stdin == ""}
	code := Execute(context.Background(), args, streams)
	return result{code, out.String(), errOut.String()}
}

// connArgs points a command at the test's database on the sandbox primary.
func connArgs(t *testing.T, d *sandboxtest.DB) []string {
	t.Helper()
	t.Setenv(EnvPassword, d.Env.Primary.Password)
	return []string{"-H", d.Env.Primary.Host, "-P", strconv.Itoa(d.Env.Primary.Port), "-u", d.Env.Primary.User, "-d", d.Name}
}

func newOrders(t *testing.T) *sandboxtest.DB {
	d := sandboxtest.New(t)
	d.Exec(t, `CREATE TABLE orders (id INT PRIMARY KEY AUTO_INCREMENT, customer_id INT NOT NULL, note VARCHAR(100), qty INT NOT NULL)`,
		`INSERT INTO orders (customer_id, note, qty) SELECT seq % 10, 'n', 1 FROM seq_1_to_200`)
	return d
}

func TestPlanConnected(t *testing.T) {
	d := newOrders(t)
	conn := connArgs(t, d)
	cases := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
		wantOut  []string
		wantErr  []string
	}{
		{"instant text", []string{"ALTER TABLE orders ADD COLUMN c INT NULL"}, "", ExitOK,
			[]string{"INSTANT", "ALGORITHM=INSTANT, LOCK=NONE", "none blocked"}, nil},
		{"inplace from stdin", nil, "CREATE INDEX ix_c ON orders (customer_id)", ExitOK,
			[]string{"INPLACE", "LOCK=NONE"}, nil},
		{"ghost", []string{"ALTER TABLE orders MODIFY qty BIGINT NOT NULL"}, "", ExitOK,
			[]string{"GHOST", "MODIFY qty BIGINT NOT NULL", "  writes", "0 rows/s now, 0% of gh-ost's apply capacity"}, nil},
		{"destructive blocks", []string{"ALTER TABLE orders DROP COLUMN note"}, "", ExitBlocked,
			[]string{"BLOCKED", "--allow-destructive"}, nil},
		{"override unblocks", []string{"--allow-destructive", "ALTER TABLE orders DROP COLUMN note"}, "", ExitOK,
			[]string{"INSTANT"}, nil},
		{"unique over duplicates blocks", []string{"ALTER TABLE orders ADD UNIQUE KEY uk (customer_id)"}, "", ExitBlocked,
			[]string{"unique_duplicates", "--allow-data-loss"}, nil},
		{"unknown table", []string{"ALTER TABLE nope ADD COLUMN c INT"}, "", ExitError,
			nil, []string{"nope"}},
		{"dml refused", []string{"DELETE FROM orders"}, "", ExitError, nil, []string{"error:"}},
		{"drop table refused", []string{"DROP TABLE orders"}, "", ExitError, nil, []string{"--allow-drop-table"}},
		{"unparsable", []string{"ALTER TABLE orders ADD COLUMN"}, "", ExitError, nil, []string{"line 1"}},
		{"hidden second statement", []string{"--single", "ALTER TABLE orders ADD COLUMN c INT; DROP TABLE orders"}, "", ExitError,
			nil, []string{"holds 2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, c.stdin, append(append([]string{"plan"}, conn...), c.args...)...)
			require.Equal(t, c.wantCode, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			for _, w := range c.wantOut {
				require.Contains(t, r.stdout, w)
			}
			for _, w := range c.wantErr {
				require.Contains(t, r.stderr, w)
			}
		})
	}
	// Planning leaves nothing behind: no probe clone, and the table is unchanged.
	var n int
	require.NoError(t, d.Primary.QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_name <> 'orders'`, d.Name).Scan(&n))
	require.Zero(t, n, "planning left tables behind")
	require.NoError(t, d.Primary.QueryRow(`SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = ? AND table_name = 'orders'`, d.Name).Scan(&n))
	require.Equal(t, 4, n, "planning changed the table")
}

func TestPlanJSON(t *testing.T) {
	d := newOrders(t)
	r := run(t, "", append(append([]string{"plan", "-o", "json"}, connArgs(t, d)...),
		"ALTER TABLE orders ADD COLUMN c INT NULL; ALTER TABLE orders MODIFY qty BIGINT NOT NULL")...)
	require.Equal(t, ExitOK, r.code, r.stderr)
	var plans []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &plans), r.stdout)
	require.Len(t, plans, 1, "two statements on one table make one plan")
	p := plans[0]
	require.Equal(t, "orders", p["table"])
	require.Equal(t, d.Name, p["schema"])
	require.Equal(t, "ghost", p["strategy"])
	require.Contains(t, p["ghost_alter"], "ADD COLUMN c INT NULL, MODIFY qty BIGINT NOT NULL")
	require.Equal(t, false, p["blocked"])
	for _, k := range []string{"statements", "reason", "rules_strategy", "probe", "findings", "size", "estimated_seconds", "forecast"} {
		require.Contains(t, p, k)
	}
	fc := p["forecast"].(map[string]any)
	for _, k := range []string{"write_rows_per_second", "write_source", "apply_capacity_events_per_second", "capacity_source", "utilization", "starves"} {
		require.Contains(t, fc, k)
	}

	// --write-sample 0: no binlog sample, no forecast.
	r = run(t, "", append(append([]string{"plan", "-o", "json", "--write-sample", "0"}, connArgs(t, d)...), "ALTER TABLE orders MODIFY qty BIGINT NOT NULL")...)
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.NotContains(t, r.stdout, `"forecast"`)
}

func TestPlanOffline(t *testing.T) {
	dir := t.TempDir()
	schema := filepath.Join(dir, "schema.sql")
	require.NoError(t, os.WriteFile(schema, []byte("CREATE TABLE shop.orders (id INT PRIMARY KEY, qty INT NOT NULL);"), 0o600))
	change := filepath.Join(dir, "change.sql")
	require.NoError(t, os.WriteFile(change, []byte("ALTER TABLE orders ADD COLUMN c INT NULL"), 0o600))

	r := run(t, "", "plan", "--offline", "--schema-file", schema, "--flavor", "mariadb-10.11", "-d", "shop", "--file", change)
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "INSTANT")

	r = run(t, "", "plan", "--offline", "--schema-file", schema, "--flavor", "mysql-5.7", "-d", "shop", "-o", "json", "--file", change)
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, `"strategy": "inplace"`, "MySQL 5.7 has no INSTANT")
}

func TestPlanUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no ddl", []string{"plan"}, "no DDL given"},
		{"bad output", []string{"plan", "-o", "yaml", "ALTER TABLE t ADD c INT"}, "--output"},
		{"arg and file", []string{"plan", "--file", "x.sql", "ALTER TABLE t ADD c INT"}, "not both"},
		{"offline without schema", []string{"plan", "--offline", "ALTER TABLE t ADD c INT"}, "--schema-file"},
		{"unknown flag", []string{"plan", "--bogus"}, "unknown flag"},
		{"bad port", []string{"plan", "-P", "0", "ALTER TABLE t ADD c INT"}, "--port"},
		{"negative write sample", []string{"plan", "--write-sample", "-1s", "ALTER TABLE t ADD c INT"}, "--write-sample"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, "", c.args...)
			require.Equal(t, ExitUsage, r.code, r.stderr)
			require.Contains(t, r.stderr, c.want)
			require.Contains(t, r.stderr, "Run 'migrate plan --help' for usage.", "a hint, not the usage")
			require.NotContains(t, r.stderr, "Usage:")
		})
	}
}

func TestPlanConnectionErrors(t *testing.T) {
	d := newOrders(t)
	conn := connArgs(t, d)
	t.Setenv(EnvPassword, "wrong")
	r := run(t, "", append(append([]string{"plan"}, conn...), "ALTER TABLE orders ADD COLUMN c INT")...)
	require.Equal(t, ExitError, r.code)
	require.Contains(t, r.stderr, "Access denied")

	// The password file wins over the environment.
	pw := filepath.Join(t.TempDir(), "pw")
	require.NoError(t, os.WriteFile(pw, []byte(d.Env.Primary.Password+"\n"), 0o600))
	r = run(t, "", append(append([]string{"plan", "--password-file", pw}, conn...), "ALTER TABLE orders ADD COLUMN c INT NULL")...)
	require.Equal(t, ExitOK, r.code, r.stderr)

	r = run(t, "", "plan", "-H", "127.0.0.1", "-P", "1", "-u", "x", "ALTER TABLE t ADD c INT")
	require.Equal(t, ExitError, r.code)
	require.Contains(t, r.stderr, "127.0.0.1:1")
}

// A table written faster than gh-ost's apply loop applies gets the warning, in the plan's own
// words, before anything runs: here 200-row UPDATEs twenty times a second (4000 rows/s) against
// the built-in capacity (no gh-ost run has measured this server's in the test's store).
func TestPlanForecastWarning(t *testing.T) {
	d := newOrders(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_, _ = d.Primary.ExecContext(ctx, "UPDATE orders SET qty = qty + 1")
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	r := run(t, "", append(append([]string{"plan", "--write-sample", "1s"}, connArgs(t, d)...), "ALTER TABLE orders MODIFY qty BIGINT NOT NULL")...)
	cancel()
	<-done
	require.Equal(t, ExitOK, r.code, "a warning does not block: %s", r.stderr)
	require.Contains(t, r.stdout, "warning")
	require.Contains(t, r.stdout, "ghost_write_rate: "+d.Name+".orders is written at")
	require.Regexp(t, `never finish|takes about [0-9.]+× as long`, r.stdout)
	require.Regexp(t, `with the table's current writes (it would not finish|[0-9.]+ \S+ \(×[0-9.]+\))`, r.stdout, "the estimate says so too")
	t.Logf("%s", r.stdout)
}
