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

	// ghost, text: the summary line has the lock time; the kept table is named once, with advice.
	r = run(t, "", runArgs(t, conn, append(replica, "ALTER TABLE orders MODIFY qty INT NOT NULL")...)...)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	require.Regexp(t, `\n`+d.Name+`\.orders \(ghost\): complete in .*\(table locked [0-9.]+m?s\)\n  the original table is kept as `+d.Name+`\._orders_[0-9]+_del \(drop it`, r.stdout,
		"the summary, then the kept original table once, with what to do about it")

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
	require.Contains(t, r.stderr, `unknown setting "bogus-setting": no command has a flag --bogus-setting`)
}

// One config file serves every command (settings of other commands are ignored, not refused);
// a '#' inside a value is part of it; quotes keep everything.
func TestConfigFileServesEveryCommand(t *testing.T) {
	d := newOrders(t)
	dir := t.TempDir()
	pw := dir + "/pass#word" // a '#' in a path
	require.NoError(t, os.WriteFile(pw, []byte(d.Env.Primary.Password+"\n"), 0o600))
	cfg := dir + "/ghostgate.conf"
	conf := "# for every command\n" +
		"host = " + d.Env.Primary.Host + "   # the sandbox\n" +
		"port = " + itoa(d.Env.Primary.Port) + "\n" +
		"user = '" + d.Env.Primary.User + "'\n" +
		"password-file = " + pw + "\n" +
		"database = \"" + d.Name + "\" # quoted\n" +
		"listen = 127.0.0.1:8471\n" + // serve's
		"token-file = /nonexistent\n" + // serve's and status's
		"approval = manual\n" + // serve's and submit's
		"; an old-style comment\n"
	require.NoError(t, os.WriteFile(cfg, []byte(conf), 0o600))
	t.Setenv(EnvPassword, "")
	r := run(t, "", "plan", "--config", cfg, "ALTER TABLE orders ADD COLUMN c INT NULL")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "INSTANT")
	r = run(t, "", "cleanup", "--config", cfg)
	require.Equal(t, ExitOK, r.code, r.stderr)

	v, err := configValue(`"a # b" # c`)
	require.NoError(t, err)
	require.Equal(t, "a # b", v)
	v, err = configValue(`http://h/x#frag`)
	require.NoError(t, err)
	require.Equal(t, "http://h/x#frag", v)
	_, err = configValue(`"open`)
	require.Error(t, err)
}

// --defaults-file reads the [client] section of a my.cnf as the mysql client does; flags win.
func TestDefaultsFile(t *testing.T) {
	d := newOrders(t)
	dir := t.TempDir()
	cnf := dir + "/my.cnf"
	content := "[mysqld]\nport = 1\nuser = mysql\n\n" +
		"[client]\n" +
		"host=" + d.Env.Primary.Host + "\n" +
		"port = " + itoa(d.Env.Primary.Port) + "\n" +
		"user = " + d.Env.Primary.User + "\n" +
		"password = \"" + d.Env.Primary.Password + "\"   # quoted, as DBAs write it\n" +
		"default_character_set = utf8mb4\n" + // another program's option: left alone
		"ssl-mode = DISABLED\n" +
		"[client-mariadb]\n" +
		"database = " + d.Name + "\n" +
		"[mysqldump]\nuser = backup\n"
	require.NoError(t, os.WriteFile(cnf, []byte(content), 0o600))
	t.Setenv(EnvPassword, "")
	os.Unsetenv(EnvPassword)
	r := run(t, "", "plan", "--defaults-file", cnf, "ALTER TABLE orders ADD COLUMN c INT NULL")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "INSTANT")
	r = run(t, "", "plan", "--defaults-file", cnf, "-d", "nope_db", "ALTER TABLE orders ADD COLUMN c INT NULL")
	require.NotEqual(t, ExitOK, r.code, "-d wins over the file's database")
	require.Contains(t, r.stderr, "nope_db")

	got, err := readMyCnf(cnf)
	require.NoError(t, err)
	require.Equal(t, d.Env.Primary.Password, got.password)
	require.Equal(t, map[string]string{"host": d.Env.Primary.Host, "port": itoa(d.Env.Primary.Port),
		"user": d.Env.Primary.User, "database": d.Name}, got.values)
	v, err := myCnfValue(`'p#ss\sword\\'`)
	require.NoError(t, err)
	require.Equal(t, `p#ss word\`, v)
	v, err = myCnfValue(`secret # comment`)
	require.NoError(t, err)
	require.Equal(t, "secret", v)
}

// A safety override taken from the environment or a file is said on stderr.
func TestSafetyOverrideSource(t *testing.T) {
	t.Setenv("GHOSTGATE_ALLOW_DESTRUCTIVE", "true")
	r := run(t, "", "plan", "--offline", "ALTER TABLE orders DROP COLUMN note")
	require.Contains(t, r.stderr, "note: --allow-destructive is on, from $GHOSTGATE_ALLOW_DESTRUCTIVE")
	t.Setenv("GHOSTGATE_ALLOW_DESTRUCTIVE", "false")
	r = run(t, "", "plan", "--offline", "ALTER TABLE orders DROP COLUMN note")
	require.NotContains(t, r.stderr, "note: --allow-destructive")
}

func itoa(n int) string { return strconv.Itoa(n) }
