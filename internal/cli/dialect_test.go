package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// Each DDL of issue 11, end to end through `migrate plan` and `migrate run` on the sandbox: it is
// planned (exit 0, never the usage code 2 of a crash), it runs, and the table ends up as written.
func TestMariaDBDialectEndToEnd(t *testing.T) {
	const digits82 = "1234567890123456789012345678901234567890123456789012345678901234567890123456789012"
	cases := []struct {
		name  string
		setup string // the table t; default: orders-like
		ddl   string
		flags []string
		check string // a query on the result that must return 1
	}{
		{name: "check constraint (gh-ost)", ddl: "ALTER TABLE t ADD CONSTRAINT chk CHECK (n >= 0)",
			check: "SELECT COUNT(*) FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND CONSTRAINT_NAME = 'chk'"},
		{name: "json check", ddl: "ALTER TABLE t ADD COLUMN j JSON CHECK (JSON_VALID(j))", check: colCheck("j", "longtext")},
		{name: "uuid inet4 inet6", ddl: "ALTER TABLE t ADD COLUMN u UUID, ADD COLUMN i4 INET4, ADD COLUMN i6 INET6", check: colCheck("i6", "inet6")},
		{name: "invisible", ddl: "ALTER TABLE t ADD COLUMN h INT INVISIBLE",
			check: "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't' AND COLUMN_NAME = 'h' AND EXTRA LIKE '%INVISIBLE%'"},
		{name: "alter online", ddl: "ALTER ONLINE TABLE t ADD COLUMN o INT", check: colCheck("o", "int")},
		{name: "wait", ddl: "ALTER TABLE t WAIT 5 ADD COLUMN w INT", check: colCheck("w", "int")},
		{name: "nowait", ddl: "ALTER TABLE t NOWAIT ADD COLUMN nw INT", check: colCheck("nw", "int")},
		{name: "maria executable comment", ddl: "ALTER TABLE t ADD COLUMN e INT /*M!100000 , DROP COLUMN b */", flags: []string{"--allow-destructive"},
			check: "SELECT COUNT(*) = 0 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't' AND COLUMN_NAME = 'b'"},
		{name: "explicit inplace", ddl: "ALTER TABLE t ADD COLUMN x INT, ALGORITHM=INPLACE, LOCK=NONE", check: colCheck("x", "int")},
		{name: "82-digit literal (gh-ost)", ddl: "ALTER TABLE t ADD CONSTRAINT big CHECK (n < " + digits82 + ")",
			check: "SELECT COUNT(*) FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND CONSTRAINT_NAME = 'big'"},
		{name: "latin2 table", setup: "CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(10)) DEFAULT CHARSET=latin2",
			ddl: "ALTER TABLE t ADD COLUMN x INT", check: colCheck("x", "int")},
		{name: "spatial table", setup: "CREATE TABLE t (id INT PRIMARY KEY, g GEOMETRY NOT NULL, SPATIAL KEY sg (g))",
			ddl: "ALTER TABLE t ADD COLUMN x INT", check: colCheck("x", "int")},
		{name: "add point", ddl: "ALTER TABLE t ADD COLUMN p POINT", check: colCheck("p", "point")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := sandboxtest.New(t)
			if tc.setup != "" {
				d.Exec(t, tc.setup)
			} else {
				d.Exec(t, "CREATE TABLE t (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, n INT NOT NULL DEFAULT 1, b INT)",
					"INSERT INTO t (n, b) SELECT seq, seq FROM seq_1_to_50")
			}
			d.WaitReplica(t)
			conn := connArgs(t, d)
			r := run(t, "", append(append(append([]string{"plan"}, conn...), tc.flags...), tc.ddl)...)
			require.Equal(t, ExitOK, r.code, "plan: %s%s", r.stdout, r.stderr)
			r = run(t, "", runArgs(t, conn, append(append([]string{"--replica", d.Env.Replica.Addr()}, tc.flags...), tc.ddl)...)...)
			require.Equal(t, ExitOK, r.code, "run: %s%s", r.stdout, r.stderr)
			var ok bool
			require.NoError(t, d.Primary.QueryRow(tc.check).Scan(&ok))
			require.True(t, ok, "after %s: %s", tc.ddl, tc.check)
		})
	}
}

func colCheck(column, typ string) string {
	return "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't' AND COLUMN_NAME = '" +
		column + "' AND COLUMN_TYPE LIKE '" + typ + "%'"
}

// The --schema-file help's own recipe: a real `mariadb-dump --no-data` of the demo-like schema,
// with a trigger and a view, plans offline with exit 0.
func TestPlanOfflineFromRealDump(t *testing.T) {
	d := newOrders(t)
	d.Exec(t, "CREATE TRIGGER orders_bi BEFORE INSERT ON orders FOR EACH ROW SET NEW.note = COALESCE(NEW.note, '')",
		"CREATE VIEW big_orders AS SELECT id, qty FROM orders WHERE qty > 10")
	dump := dumpSchema(t, d, "--no-data", "--routines", "--triggers")
	for _, ddl := range []string{"ALTER TABLE orders ADD COLUMN c INT NULL", "CREATE INDEX k_qty ON orders (qty)"} {
		r := run(t, "", "plan", "--offline", "--schema-file", dump, "-d", d.Name, ddl)
		require.Equal(t, ExitOK, r.code, "%s%s", r.stdout, r.stderr)
	}
	// The dump's trigger is seen: a gh-ost plan of the table says how it is carried over.
	r := run(t, "", "plan", "--offline", "--schema-file", dump, "-d", d.Name, "ALTER TABLE orders MODIFY qty BIGINT NOT NULL")
	require.Equal(t, ExitOK, r.code, "%s%s", r.stdout, r.stderr)
	require.Contains(t, r.stdout, "orders_bi → orders_bi_ggt")
	r = run(t, "", "plan", "--offline", "--schema-file", dump, "-d", d.Name, "ALTER TABLE big_orders ADD COLUMN c INT")
	require.Equal(t, ExitError, r.code)
	require.Contains(t, r.stderr, "view")
}

func dumpSchema(t *testing.T, d *sandboxtest.DB, flags ...string) string {
	t.Helper()
	bin, err := exec.LookPath("mariadb-dump")
	require.NoError(t, err, "mariadb-dump comes with the sandbox's mariadb-client")
	args := append([]string{"--no-defaults", "-h", d.Env.Primary.Host, "-P", strconv.Itoa(d.Env.Primary.Port),
		"-u", d.Env.Primary.User, "-p" + d.Env.Primary.Password}, flags...)
	out, err := exec.Command(bin, append(args, d.Name)...).Output()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "schema.sql")
	require.NoError(t, os.WriteFile(path, out, 0o600))
	require.True(t, strings.Contains(string(out), "CREATE TABLE"))
	return path
}

// The demo's schema, loaded and dumped by mariadb-dump --no-data (with and without --compact),
// plans every demo change offline: 01-03 run as they are, the others stop on their findings.
func TestPlanOfflineDemoDump(t *testing.T) {
	schema, err := os.ReadFile(filepath.Join("..", "..", "examples", "demo", "schema.sql"))
	require.NoError(t, err)
	d := sandboxtest.New(t)
	for _, st := range strings.Split(string(schema), ";") {
		if strings.Contains(st, "CREATE TABLE") {
			d.Exec(t, st)
		}
	}
	changes, err := filepath.Glob(filepath.Join("..", "..", "examples", "demo", "changes", "*.sql"))
	require.NoError(t, err)
	require.Len(t, changes, 6)
	for _, flags := range [][]string{{"--no-data"}, {"--no-data", "--compact"}} {
		dump := dumpSchema(t, d, flags...)
		for _, ch := range changes {
			r := run(t, "", "plan", "--offline", "--schema-file", dump, "-d", d.Name, "--file", ch)
			want := ExitOK
			if b := filepath.Base(ch); b == "04-drop-column.sql" || b == "06-fk-table.sql" {
				want = ExitBlocked
			}
			require.Equal(t, want, r.code, "%v %s: %s%s", flags, ch, r.stdout, r.stderr)
		}
	}
}
