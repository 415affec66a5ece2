package planner

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseServerAndValidate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Server
		err  bool
	}{
		{"mariadb-10.11", Server{MariaDB, 10, 11, 0}, false},
		{"MariaDB-11.4.2", Server{MariaDB, 11, 4, 2}, false},
		{"mysql-8.0.30", Server{MySQL, 8, 0, 30}, false},
		{"mysql-5.7", Server{MySQL, 5, 7, 0}, false},
		{"mysql-5.6", Server{}, true},
		{"mariadb-5.5", Server{}, true},
		{"postgres-16", Server{}, true},
	} {
		got, err := ParseServer(tc.in)
		if tc.err {
			require.ErrorIs(t, err, ErrUnsupportedServer, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got)
	}
	v, err := serverFromVersion("10.11.19-MariaDB-0+deb12u1-log")
	require.NoError(t, err)
	require.Equal(t, Server{MariaDB, 10, 11, 19}, v)
	v, err = serverFromVersion("8.0.36")
	require.NoError(t, err)
	require.Equal(t, MySQL, v.Flavor)

	require.NoError(t, Options{Overrides: []string{FlagAllowDestructive, FlagAllowDataLoss, FlagAllowIncompatible}}.Validate())
	require.ErrorIs(t, Options{Overrides: []string{"--yolo"}}.Validate(), ErrInvalidOptions)
	require.ErrorIs(t, Options{RebuildMaxRows: -1}.Validate(), ErrInvalidOptions)
	require.ErrorIs(t, Options{Server: "mysql-4.1"}.Validate(), ErrInvalidOptions)
	_, err = NewOffline(fixture, Options{})
	require.ErrorIs(t, err, ErrInvalidOptions)
	_, err = NewOffline("CREATE TABLE a (id INT); INSERT INTO a VALUES (1)", Options{Server: "mariadb-10.11"})
	require.ErrorIs(t, err, ErrUnsupported)
	_, err = NewOffline("CREATE TABLE a (id INT", Options{Server: "mariadb-10.11"})
	require.ErrorIs(t, err, ErrParse)
}

// Every override a finding can name is in Overrides, so the CLI registers it.
func TestOverridesCoverFindings(t *testing.T) {
	known := map[string]bool{}
	for _, o := range Overrides {
		require.NotEmpty(t, o.Help)
		known[o.Flag] = true
	}
	p, err := NewOffline(fixture, Options{Server: "mariadb-10.11", Schema: "app", AllowDropTable: true})
	require.NoError(t, err)
	for _, tc := range offlineCases() {
		if tc.err != nil || tc.server != "" {
			continue
		}
		plans, err := p.Plan(context.Background(), tc.ddl)
		require.NoError(t, err, tc.ddl)
		for _, pl := range plans {
			for _, f := range pl.Findings {
				if f.Override != "" {
					require.True(t, known[f.Override], "%s names unknown flag %s", f.Code, f.Override)
					require.Equal(t, SeverityError, f.Severity, f.Code)
				}
			}
		}
	}
}

func TestJSONFieldNames(t *testing.T) {
	p, err := NewOffline(fixture, Options{Server: "mariadb-10.11", Schema: "app"})
	require.NoError(t, err)
	plans, err := p.Plan(context.Background(), "ALTER TABLE users DROP COLUMN bio; ALTER TABLE nopk MODIFY a BIGINT")
	require.NoError(t, err)
	b, err := json.Marshal(plans)
	require.NoError(t, err)
	var got []map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	require.Len(t, got, 2)
	for _, key := range []string{"schema", "table", "statements", "strategy", "algorithm", "rebuild", "reason", "rules_strategy",
		"rules_algorithm", "probe", "findings", "size", "estimated_seconds", "blocked"} {
		require.Contains(t, got[0], key)
	}
	require.Contains(t, got[0], "sql")
	require.Contains(t, got[1], "ghost_alter")
	f := got[0]["findings"].([]any)[0].(map[string]any)
	require.Equal(t, map[string]any{"code": CodeDropColumn, "severity": "error", "message": f["message"], "override": FlagAllowDestructive}, f)
}

func TestWriteText(t *testing.T) {
	p, err := NewOffline(fixture, Options{Server: "mariadb-10.11", Schema: "app", Overrides: []string{FlagAllowIncompatible}})
	require.NoError(t, err)
	plans, err := p.Plan(context.Background(), "ALTER TABLE users DROP COLUMN bio; ALTER TABLE nopk MODIFY a BIGINT; RENAME TABLE parent TO mother")
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, WriteText(&buf, plans))
	out := buf.String()
	for _, want := range []string{
		"app.users", "INSTANT", "BLOCKED", "ALGORITHM=INSTANT, LOCK=NONE", "[override: --allow-destructive]",
		"app.nopk", "GHOST", `gh-ost --alter  "MODIFY a BIGINT"`, "ghost_no_shared_key",
		"app.parent", "error (overridden)", "3 plan(s), 2 blocked",
	} {
		require.Contains(t, out, want)
	}
	require.Equal(t, 3, strings.Count(out, "  rules "))
}

// MariaDB 11's default collation parses (SHOW CREATE TABLE prints it on every table there).
func TestMariaDB11Collation(t *testing.T) {
	p, err := NewOffline("CREATE TABLE `t` (`id` int(11) NOT NULL, `v` varchar(10) COLLATE utf8mb4_uca1400_as_cs, PRIMARY KEY (`id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_ai_ci",
		Options{Server: "mariadb-11.4", Schema: "app"})
	require.NoError(t, err)
	plans, err := p.Plan(context.Background(), "ALTER TABLE t MODIFY v VARCHAR(10) COLLATE utf8mb4_uca1400_ai_ci")
	require.NoError(t, err)
	require.Equal(t, StrategyInplace, plans[0].Strategy)
	require.Contains(t, findingCodes(plans[0]), CodeCharsetChange)
}
