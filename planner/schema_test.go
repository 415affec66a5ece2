package planner

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// dumpFixture is a `mariadb-dump --no-data --routines --triggers` of MariaDB 10.11.19, kept as the
// tool wrote it (testdata/): sandbox line, SET lines in executable comments, DROP … IF EXISTS,
// a trigger and a procedure under DELIMITER ;;, a view with its placeholder.
var dumpFixture = func() string {
	b, err := os.ReadFile(filepath.Join("testdata", "mariadb-dump-routines-triggers.sql"))
	if err != nil {
		panic(err)
	}
	return string(b)
}()

func TestSchemaFromDumpFile(t *testing.T) {
	p, err := NewOffline(dumpFixture, Options{Server: "mariadb-10.11", Schema: "dd"})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{tableKey("dd", "l"), tableKey("dd", "t")}, keys(p.defs.tables))
	require.True(t, p.defs.views[tableKey("dd", "v")])
	tb := p.defs.tables[tableKey("dd", "t")]
	require.Equal(t, []string{"tr"}, tb.triggers)
	require.Equal(t, "POINT", tb.column("g").native)
	require.Equal(t, "UUID", tb.column("u").native)
	require.Equal(t, "latin2", tb.column("s").charset)
	require.Equal(t, "latin2", p.defs.tables[tableKey("dd", "l")].charset)

	plans, err := p.Plan(context.Background(), "ALTER TABLE t MODIFY n BIGINT")
	require.NoError(t, err)
	require.Equal(t, StrategyGhost, plans[0].Strategy)
	require.Contains(t, findingCodes(plans[0]), CodeTriggers, "the dump's trigger is seen offline")

	_, err = p.Plan(context.Background(), "ALTER TABLE v ADD COLUMN x INT")
	require.ErrorIs(t, err, ErrNotSchemaChange)
	require.Contains(t, err.Error(), "view")
}

func TestSchemaFileRefusals(t *testing.T) {
	for _, tc := range []struct{ defs, quote string }{
		{"CREATE TABLE a (id INT PRIMARY KEY);\nINSERT INTO a VALUES (1);", "INSERT INTO a VALUES (1)"},
		{"CREATE TABLE b LIKE a;", "CREATE TABLE b LIKE a"},
		{"GRANT ALL ON *.* TO x;", "GRANT ALL"},
		{"CREATE TRIGGER tr BEFORE INSERT ON nope FOR EACH ROW SET @a = 1;", "nope"},
	} {
		_, err := NewOffline(tc.defs, Options{Server: "mariadb-10.11", Schema: "app"})
		require.Error(t, err, tc.defs)
		require.True(t, IsRefusal(err), err)
		require.Contains(t, err.Error(), tc.quote)
		require.Contains(t, err.Error(), "line ")
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Real dumps of the sandbox, in every form the issue names, read as is: a demo-like schema, and a
// schema with a trigger, a view and a routine.
func TestSchemaFromRealDumps(t *testing.T) {
	d := sandboxtest.New(t)
	d.Exec(t,
		`CREATE TABLE customers (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, email VARCHAR(190) NOT NULL,
			created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, UNIQUE KEY u_email (email)) ENGINE=InnoDB`,
		`CREATE TABLE orders (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, customer_id BIGINT NOT NULL,
			status ENUM('new','paid') NOT NULL DEFAULT 'new', total DECIMAL(10,2) NOT NULL, note TEXT,
			loc POINT NULL, tag UUID NULL, CONSTRAINT c_total CHECK (total >= 0), KEY k_customer (customer_id))`,
		`CREATE TABLE legacy (id INT PRIMARY KEY, name VARCHAR(40)) DEFAULT CHARSET=latin2`,
		`CREATE TRIGGER orders_bi BEFORE INSERT ON orders FOR EACH ROW BEGIN SET NEW.note = COALESCE(NEW.note, ''); SET NEW.total = NEW.total + 0; END`,
		`CREATE VIEW paid AS SELECT id, total FROM orders WHERE status = 'paid'`,
		`CREATE PROCEDURE touch() BEGIN SELECT 1; SELECT 2; END`,
		`CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2`,
	)
	dump, err := exec.LookPath("mariadb-dump")
	require.NoError(t, err, "mariadb-dump comes with the sandbox's mariadb-client")
	for _, flags := range [][]string{
		{"--no-data"},
		{"--no-data", "--compact"},
		{"--no-data", "--routines", "--triggers"},
		{"--no-data", "--routines", "--triggers", "--compact"},
		{"--no-data", "--routines", "--triggers", "--databases"},
		{"--no-data", "--skip-triggers"},
	} {
		t.Run(filepath.Base(fmtFlags(flags)), func(t *testing.T) {
			args := append([]string{"--no-defaults", "-h", d.Env.Primary.Host, "-P", strconv.Itoa(d.Env.Primary.Port),
				"-u", d.Env.Primary.User, "-p" + d.Env.Primary.Password}, flags...)
			out, err := exec.Command(dump, append(args, d.Name)...).Output()
			require.NoError(t, err)
			p, err := NewOffline(string(out), Options{Server: "mariadb-10.11", Schema: d.Name})
			require.NoError(t, err, "%s", out)
			require.ElementsMatch(t, []string{tableKey(d.Name, "customers"), tableKey(d.Name, "orders"), tableKey(d.Name, "legacy")}, keys(p.defs.tables))
			require.True(t, p.defs.views[tableKey(d.Name, "paid")])
			plans, err := p.Plan(context.Background(), "ALTER TABLE orders ADD COLUMN shipped_at DATETIME NULL; ALTER TABLE legacy MODIFY name VARCHAR(60); CREATE INDEX k_created ON customers (created_at)")
			require.NoError(t, err)
			require.Len(t, plans, 3)
			require.Equal(t, StrategyInstant, plans[0].Strategy)
			ghost, err := p.Plan(context.Background(), "ALTER TABLE orders MODIFY total DECIMAL(12,2) NOT NULL")
			require.NoError(t, err)
			require.Equal(t, StrategyGhost, ghost[0].Strategy)
			// mariadb-dump writes triggers unless told not to
			require.Equal(t, !slices.Contains(flags, "--skip-triggers"), slices.Contains(findingCodes(ghost[0]), CodeTriggers))
		})
	}
}

func fmtFlags(flags []string) string {
	s := ""
	for _, f := range flags {
		s += f
	}
	return s
}

// A part of a definition the parser cannot read costs only that part: columns and keys keep their
// names (clauses naming them resolve), the plan says what was not modelled.
func TestOpaqueDefinitionParts(t *testing.T) {
	defs := "CREATE TABLE o (id INT NOT NULL PRIMARY KEY, g SOMETYPE(3) NOT NULL, d DATE, d2 DATE, PERIOD FOR app(d, d2), KEY kg (g) WITH PARSER ngram2 FANCY)"
	p, err := NewOffline(defs, Options{Server: "mariadb-10.11", Schema: "app"})
	require.NoError(t, err)
	tb := p.defs.tables[tableKey("app", "o")]
	require.Len(t, tb.notes, 3, "%v", tb.notes)
	require.NotNil(t, tb.column("g"))
	require.False(t, tb.column("g").nullable)
	require.NotNil(t, tb.index("kg"))
	plans, err := p.Plan(context.Background(), "ALTER TABLE o DROP INDEX kg, MODIFY g SOMETYPE(4) NOT NULL")
	require.NoError(t, err)
	require.Contains(t, findingCodes(plans[0]), CodeDefinitionNotModelled)
	require.Contains(t, findingCodes(plans[0]), CodeNotAnalysed)
	require.Equal(t, StrategyGhost, plans[0].Strategy, "an unread clause is assumed to copy offline")
	require.NotContains(t, findingCodes(plans[0]), CodeNoSharedKey, "PRIMARY (id) is still known")
}

// Offline, trigger names are checked against every trigger the dump declares in the schema.
func TestDumpTriggerNamesPerSchema(t *testing.T) {
	defs := `CREATE TABLE a (id INT PRIMARY KEY, n INT); CREATE TABLE b (id INT PRIMARY KEY);
		CREATE TRIGGER tr BEFORE INSERT ON a FOR EACH ROW SET NEW.n = 1;
		CREATE TRIGGER tr_ggt BEFORE INSERT ON b FOR EACH ROW SET @x = 1;`
	p, err := NewOffline(defs, Options{Server: "mariadb-10.11", Schema: "app"})
	require.NoError(t, err)
	plans, err := p.Plan(context.Background(), "ALTER TABLE a MODIFY n BIGINT")
	require.NoError(t, err)
	require.True(t, plans[0].Blocked)
	require.Contains(t, findingByCode(t, plans[0], CodeTriggers).Message, "tr_ggt")
}
