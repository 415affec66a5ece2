package planner

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

const dialectTable = `CREATE TABLE t (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, n INT NOT NULL DEFAULT 1, b INT,
	s VARCHAR(20)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`

// digits82 is the literal that panicked the TiDB parser's test driver (issue 11).
const digits82 = "1234567890123456789012345678901234567890123456789012345678901234567890123456789012"

// Each DDL of issue 11 is planned against the sandbox and the planned statement is run on the
// real table (a gh-ost --alter on a clone of it): the server accepts exactly what ghostgate
// would execute, and the table ends up as the user's text says.
func TestMariaDBDialectPlannedAndRun(t *testing.T) {
	d := sandboxtest.New(t)
	cases := []struct {
		name      string
		setup     string // replaces dialectTable when set
		ddl       string
		overrides []string
		strategy  Strategy
		sqlHas    string   // in SQL (native) or GhostAlter (ghost)
		codes     []string // findings expected
		column    string   // a column whose COLUMN_TYPE/EXTRA must contain want after the run
		want      string
	}{
		{name: "check constraint", ddl: "ALTER TABLE t ADD CONSTRAINT chk CHECK (n >= 0)", strategy: StrategyGhost,
			sqlHas: "ADD CONSTRAINT chk CHECK (n >= 0)"},
		{name: "json with check", ddl: "ALTER TABLE t ADD COLUMN j JSON CHECK (JSON_VALID(j))", strategy: StrategyInstant,
			sqlHas: "ADD COLUMN j JSON CHECK (JSON_VALID(j)), ALGORITHM=INSTANT", column: "j", want: "longtext"},
		{name: "uuid", ddl: "ALTER TABLE t ADD COLUMN u UUID", strategy: StrategyInstant, column: "u", want: "uuid"},
		{name: "inet4", ddl: "ALTER TABLE t ADD COLUMN i4 INET4 NULL", strategy: StrategyInstant, column: "i4", want: "inet4"},
		{name: "inet6", ddl: "ALTER TABLE t ADD COLUMN i6 INET6", strategy: StrategyInstant, column: "i6", want: "inet6"},
		{name: "invisible", ddl: "ALTER TABLE t ADD COLUMN hidden INT INVISIBLE", strategy: StrategyInstant, column: "hidden", want: "INVISIBLE"},
		{name: "alter online", ddl: "ALTER ONLINE TABLE t ADD COLUMN o INT", strategy: StrategyInstant,
			sqlHas: "ADD COLUMN o INT, ALGORITHM=INSTANT, LOCK=NONE", column: "o", want: "int"},
		{name: "wait", ddl: "ALTER TABLE t WAIT 5 ADD COLUMN w INT", strategy: StrategyInstant,
			sqlHas: "`t` WAIT 5 ADD COLUMN w INT, ALGORITHM=INSTANT", codes: []string{CodeLockWait}, column: "w", want: "int"},
		{name: "nowait", ddl: "ALTER TABLE t NOWAIT ADD COLUMN nw INT", strategy: StrategyInstant, sqlHas: "`t` NOWAIT ADD COLUMN nw INT"},
		{name: "maria executable comment runs", ddl: "ALTER TABLE t ADD COLUMN e INT /*M!100000 , DROP COLUMN b */",
			overrides: []string{FlagAllowDestructive}, strategy: StrategyInstant, sqlHas: "ADD COLUMN e INT, DROP COLUMN b, ALGORITHM=INSTANT",
			codes: []string{CodeDropColumn, CodeExecComment}, column: "b", want: "<gone>"},
		{name: "explicit inplace honoured", ddl: "ALTER TABLE t ADD COLUMN x INT, ALGORITHM=INPLACE, LOCK=NONE", strategy: StrategyInplace,
			sqlHas: "ADD COLUMN x INT, ALGORITHM=INPLACE, LOCK=NONE", column: "x", want: "int"},
		{name: "82-digit literal", ddl: "ALTER TABLE t ADD CONSTRAINT big CHECK (n < " + digits82 + ")", strategy: StrategyGhost,
			codes: []string{CodeNotAnalysed}, sqlHas: digits82},
		{name: "latin2 table", setup: "CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(10)) DEFAULT CHARSET=latin2",
			ddl: "ALTER TABLE t ADD COLUMN x INT", strategy: StrategyInstant, column: "x", want: "int"},
		{name: "cp1250 and utf16 columns", setup: "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10) CHARACTER SET cp1250, c VARCHAR(10) CHARACTER SET utf16)",
			ddl: "ALTER TABLE t MODIFY a VARCHAR(10) CHARACTER SET utf8mb4", strategy: StrategyGhost, codes: []string{CodeCharsetChange}},
		{name: "spatial table", setup: "CREATE TABLE t (id INT PRIMARY KEY, g GEOMETRY NOT NULL, SPATIAL KEY sg (g))",
			ddl: "ALTER TABLE t ADD COLUMN x INT", strategy: StrategyInstant, column: "x", want: "int"},
		{name: "add point", ddl: "ALTER TABLE t ADD COLUMN p POINT", strategy: StrategyInstant, column: "p", want: "point"},
		{name: "to latin2", ddl: "ALTER TABLE t MODIFY s VARCHAR(20) CHARACTER SET latin2", strategy: StrategyGhost, codes: []string{CodeCharsetChange}},
		{name: "replace primary key keeps a shared key", ddl: "ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (id, n)",
			overrides: []string{FlagAllowDestructive}, strategy: StrategyInplace, sqlHas: "DROP PRIMARY KEY, ADD PRIMARY KEY (id, n), ALGORITHM=INPLACE"},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d.Exec(t, "DROP TABLE IF EXISTS t", cmpOr(tc.setup, dialectTable))
			if tc.setup == "" {
				d.Exec(t, "INSERT INTO t (n, b, s) SELECT seq, seq, 'x' FROM seq_1_to_20")
			}
			p := connected(t, d, Options{Overrides: tc.overrides})
			plans, err := p.Plan(ctx, tc.ddl)
			require.NoError(t, err)
			require.Len(t, plans, 1)
			pl := plans[0]
			require.Equal(t, tc.strategy, pl.Strategy, pl.Reason)
			require.False(t, pl.Blocked, "%+v", pl.Findings)
			codes := findingCodes(pl)
			for _, c := range tc.codes {
				require.Contains(t, codes, c)
			}
			stmt := pl.SQL
			if pl.Strategy == StrategyGhost {
				// gh-ost runs exactly this clause on its ghost table: the server must accept it.
				require.NotContains(t, pl.GhostAlter, "ENFORCED")
				d.Exec(t, "DROP TABLE IF EXISTS t_ghost", "CREATE TABLE t_ghost LIKE t")
				stmt = "ALTER TABLE t_ghost " + pl.GhostAlter
				require.Contains(t, pl.GhostAlter, tc.sqlHas)
			} else {
				require.Contains(t, pl.SQL, tc.sqlHas)
			}
			_, err = d.Primary.ExecContext(ctx, stmt)
			require.NoError(t, err, stmt)
			if tc.column != "" {
				require.Contains(t, columnInfo(t, d, "t", tc.column), tc.want)
			}
			requireNoClone(t, d)
		})
	}
}

// columnInfo is COLUMN_TYPE and EXTRA of a column, "<gone>" when it does not exist.
func columnInfo(t *testing.T, d *sandboxtest.DB, table, column string) string {
	t.Helper()
	var typ, extra string
	err := d.Primary.QueryRow(`SELECT COLUMN_TYPE, EXTRA FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?`, table, column).Scan(&typ, &extra)
	if err != nil && strings.Contains(err.Error(), "no rows") {
		return "<gone>"
	}
	require.NoError(t, err)
	return typ + " " + extra
}

// A user's explicit algorithm the server cannot do online is refused with the server's reason.
func TestExplicitAlgorithmRefused(t *testing.T) {
	d := sandboxtest.New(t)
	d.Exec(t, dialectTable)
	p := connected(t, d, Options{})
	_, err := p.Plan(context.Background(), "ALTER TABLE t MODIFY n BIGINT NOT NULL, ALGORITHM=INSTANT")
	var no *NotOnlineError
	require.ErrorAs(t, err, &no)
	require.ErrorIs(t, err, ErrNotOnline)
	require.True(t, IsRefusal(err))
	require.Equal(t, AlgorithmInstant, no.Algorithm)
	require.Contains(t, no.Reason, "ALGORITHM=INSTANT is not supported")
	requireNoClone(t, d)
}

// The connected planner reads performance_schema from the server: the sandbox runs with it ON, so
// a gh-ost plan carries no finding about it; a pair started with it OFF gets the finding
// (TestPerformanceSchemaOffServer; the finding's logic: TestPerformanceSchemaFinding).
func TestPerformanceSchemaConnected(t *testing.T) {
	d := sandboxtest.New(t)
	d.Exec(t, dialectTable)
	var on bool
	require.NoError(t, d.Primary.QueryRow("SELECT @@GLOBAL.performance_schema").Scan(&on))
	require.True(t, on, "the sandbox runs with performance_schema=ON")
	p := connected(t, d, Options{})
	require.NotNil(t, p.perfSchema)
	require.Equal(t, on, *p.perfSchema)
	plans, err := p.Plan(context.Background(), "ALTER TABLE t MODIFY n BIGINT NOT NULL")
	require.NoError(t, err)
	require.Equal(t, StrategyGhost, plans[0].Strategy)
	require.NotContains(t, findingCodes(plans[0]), CodePerformanceSchemaOff)
}

func TestPerformanceSchemaOffServer(t *testing.T) {
	d := sandboxtest.NewOn(t, sandboxtest.IsolatedWith(t, "planner-no-ps", sandboxtest.WithoutPerformanceSchema))
	var on bool
	require.NoError(t, d.Primary.QueryRow("SELECT @@GLOBAL.performance_schema").Scan(&on))
	require.False(t, on)
	d.Exec(t, dialectTable)
	plans, err := connected(t, d, Options{}).Plan(context.Background(), "ALTER TABLE t MODIFY n BIGINT NOT NULL")
	require.NoError(t, err)
	require.Equal(t, StrategyGhost, plans[0].Strategy)
	require.Contains(t, findingCodes(plans[0]), CodePerformanceSchemaOff)
	native, err := connected(t, d, Options{}).Plan(context.Background(), "ALTER TABLE t ADD COLUMN x INT")
	require.NoError(t, err)
	require.NotContains(t, findingCodes(native[0]), CodePerformanceSchemaOff, "native changes have no gh-ost cut-over")
}
