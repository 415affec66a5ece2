package planner

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func mustServer(t *testing.T, s string) Server {
	t.Helper()
	srv, err := ParseServer(s)
	require.NoError(t, err)
	return srv
}

// The lexer resolves executable comments the way the target server would, and keeps quoting and
// comments from fooling the statement and clause boundaries.
func TestLexer(t *testing.T) {
	cases := []struct {
		name   string
		server string
		in     string
		want   []string // each statement's tokens, rendered
	}{
		{"plain", "mariadb-10.11", "ALTER TABLE t ADD x INT", []string{"ALTER TABLE t ADD x INT"}},
		{"two statements", "mariadb-10.11", "ALTER TABLE t ADD x INT; ALTER TABLE u ADD y INT;", []string{"ALTER TABLE t ADD x INT", "ALTER TABLE u ADD y INT"}},
		{"semicolon in string", "mariadb-10.11", "ALTER TABLE t COMMENT 'a;b'", []string{"ALTER TABLE t COMMENT 'a;b'"}},
		{"escaped quote", "mariadb-10.11", `ALTER TABLE t COMMENT 'it\'s; ok', ADD y INT`, []string{`ALTER TABLE t COMMENT 'it\'s; ok', ADD y INT`}},
		{"doubled quote", "mariadb-10.11", "ALTER TABLE t COMMENT 'it''s;'", []string{"ALTER TABLE t COMMENT 'it''s;'"}},
		{"backquoted", "mariadb-10.11", "ALTER TABLE `a;``b` ADD x INT", []string{"ALTER TABLE `a;``b` ADD x INT"}},
		{"comments dropped", "mariadb-10.11", "ALTER TABLE t /* ; */ ADD x INT -- ; trailing\n# another\n, ADD y INT", []string{"ALTER TABLE t ADD x INT , ADD y INT"}},
		{"double dash needs a space", "mariadb-10.11", "ALTER TABLE t ALTER c SET DEFAULT 1--1", []string{"ALTER TABLE t ALTER c SET DEFAULT 1--1"}},
		{"maria comment runs on MariaDB", "mariadb-10.11", "ALTER TABLE t ADD x INT /*M!100000 , DROP COLUMN b */", []string{"ALTER TABLE t ADD x INT , DROP COLUMN b"}},
		{"maria comment ignored by MySQL", "mysql-8.0.30", "ALTER TABLE t ADD x INT /*M!100000 , DROP COLUMN b */", []string{"ALTER TABLE t ADD x INT"}},
		{"version too new", "mariadb-10.11", "ALTER TABLE t ADD x INT /*M!110500 , DROP COLUMN b */", []string{"ALTER TABLE t ADD x INT"}},
		{"mysql comment runs", "mariadb-10.11", "ALTER TABLE t ADD x INT /*!50100 , DROP COLUMN b */", []string{"ALTER TABLE t ADD x INT , DROP COLUMN b"}},
		{"versionless runs", "mysql-5.7", "ALTER TABLE t ADD x INT /*! , DROP COLUMN b */", []string{"ALTER TABLE t ADD x INT , DROP COLUMN b"}},
		{"six digits on MariaDB", "mariadb-10.4", "ALTER TABLE t ADD x INT /*!100500 , DROP COLUMN b */", []string{"ALTER TABLE t ADD x INT"}},
		{"sandbox line", "mariadb-10.11", "/*M!999999\\- enable the sandbox mode */\nALTER TABLE t ADD x INT", []string{"ALTER TABLE t ADD x INT"}},
		{"string in executable comment", "mariadb-10.11", "ALTER TABLE t /*!50000 COMMENT 'x */ y' */", []string{"ALTER TABLE t COMMENT 'x */ y'"}},
		{"adjacent tokens stay adjacent", "mariadb-10.11", "ALTER TABLE t MODIFY c VARCHAR(10)", []string{"ALTER TABLE t MODIFY c VARCHAR(10)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lx, err := lexSQL(tc.in, mustServer(t, tc.server), false)
			require.NoError(t, err)
			var got []string
			for _, st := range lx.stmts {
				got = append(got, render(st.toks))
			}
			require.Equal(t, tc.want, got)
		})
	}
	for _, bad := range []string{"ALTER TABLE t COMMENT 'x", "ALTER TABLE `t", "ALTER TABLE t /* x", "ALTER TABLE t /*!50000 ADD x INT", "ALTER TABLE t /*! ADD x INT; ALTER TABLE u ADD y INT */"} {
		_, err := lexSQL(bad, mustServer(t, "mariadb-10.11"), false)
		var pe *ParseError
		require.ErrorAs(t, err, &pe, bad)
		require.ErrorIs(t, err, ErrParse)
		require.Equal(t, 1, pe.Line)
	}
}

// DELIMITER is a client command: honoured in schema dumps only.
func TestLexerDelimiter(t *testing.T) {
	in := "CREATE TABLE t (id INT);\nDELIMITER ;;\nCREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END ;;\nDELIMITER ;\nCREATE TABLE u (id INT);"
	lx, err := lexSQL(in, mustServer(t, "mariadb-10.11"), true)
	require.NoError(t, err)
	require.Len(t, lx.stmts, 3)
	require.Equal(t, "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", render(lx.stmts[1].toks))
	require.Equal(t, "CREATE TABLE u (id INT)", lx.stmts[2].text)
}

// An executable comment is reported on the plan of the statement it belongs to.
func TestExecFindingsPerTable(t *testing.T) {
	p, err := NewOffline(fixture, Options{Server: "mariadb-10.11", Schema: "app"})
	require.NoError(t, err)
	plans, err := p.Plan(t.Context(), "/*!50000 ALTER TABLE users ADD COLUMN x INT */; ALTER TABLE parent ADD COLUMN y INT /*M!100000 , ADD COLUMN z INT */")
	require.NoError(t, err)
	require.Len(t, plans, 2)
	require.Equal(t, 1, count(findingCodes(plans[0]), CodeExecComment))
	require.Equal(t, 1, count(findingCodes(plans[1]), CodeExecComment))
	require.Contains(t, plans[1].SQL, "ADD COLUMN y INT, ADD COLUMN z INT, ALGORITHM=INSTANT")
}

func count(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}
