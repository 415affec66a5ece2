package planner

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/store"
)

const fixture = `
CREATE TABLE users (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  email VARCHAR(100) NOT NULL,
  name VARCHAR(20),
  age INT,
  bio TEXT,
  status ENUM('a','b') NOT NULL DEFAULT 'a',
  score BIGINT,
  KEY k_name (name),
  UNIQUE KEY u_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
CREATE TABLE nopk (a INT, b INT);
CREATE TABLE parent (id INT NOT NULL PRIMARY KEY, v INT);
CREATE TABLE child (id INT NOT NULL PRIMARY KEY, parent_id INT, CONSTRAINT fk_p FOREIGN KEY (parent_id) REFERENCES parent (id));
CREATE TABLE other.t2 (id INT NOT NULL PRIMARY KEY, v VARCHAR(10));
CREATE TABLE nullu (a INT, b INT, UNIQUE KEY ua (a));
CREATE TABLE fl (f FLOAT NOT NULL, v INT, UNIQUE KEY uf (f));
`

type offlineCase struct {
	name      string
	server    string // default mariadb-10.11
	ddl       string
	overrides []string
	allowDrop bool
	single    bool

	err      error     // expected sentinel; the rest is ignored when set
	strategy Strategy  // of the first plan
	alg      Algorithm // of the first plan, when set
	codes    []string  // finding codes the first plan must have
	notCodes []string  // finding codes it must not have
	blocked  bool
	sqlHas   string // substring of SQL (or GhostAlter for ghost plans)
	plans    int    // number of plans, when set
}

func offlineCases() []offlineCase {
	return []offlineCase{
		// instant
		{name: "add column", ddl: "ALTER TABLE users ADD COLUMN note TEXT", strategy: StrategyInstant, alg: AlgorithmInstant, sqlHas: "ALTER TABLE `app`.`users` ADD COLUMN note TEXT, ALGORITHM=INSTANT, LOCK=NONE"},
		{name: "add column first 10.11", ddl: "ALTER TABLE users ADD COLUMN x INT FIRST", strategy: StrategyInstant},
		{name: "add column mysql 8.0.30 has no LOCK with INSTANT", server: "mysql-8.0.30", ddl: "ALTER TABLE users ADD COLUMN x INT AFTER id", strategy: StrategyInstant, sqlHas: "ADD COLUMN x INT AFTER id, ALGORITHM=INSTANT"},
		{name: "add virtual column", ddl: "ALTER TABLE users ADD COLUMN a2 INT AS (age * 2) VIRTUAL", strategy: StrategyInstant},
		{name: "alter column set default", ddl: "ALTER TABLE users ALTER COLUMN age SET DEFAULT 18", strategy: StrategyInstant},
		{name: "varchar extension", ddl: "ALTER TABLE users MODIFY name VARCHAR(100)", strategy: StrategyInstant, notCodes: []string{CodeNarrowing}},
		{name: "enum append", ddl: "ALTER TABLE users MODIFY status ENUM('a','b','c') NOT NULL DEFAULT 'a'", strategy: StrategyInstant},
		{name: "table comment", ddl: "ALTER TABLE users COMMENT = 'people'", strategy: StrategyInstant},
		{name: "default charset only", ddl: "ALTER TABLE users DEFAULT CHARSET = latin1", strategy: StrategyInstant},
		{name: "rename index 10.11", ddl: "ALTER TABLE users RENAME INDEX k_name TO k_name2", strategy: StrategyInstant},
		{name: "algorithm copy refused", ddl: "ALTER TABLE users ADD COLUMN x INT, ALGORITHM=COPY", err: ErrUnsupported},
		{name: "lock shared refused", ddl: "ALTER TABLE users ADD COLUMN x INT, LOCK=SHARED", err: ErrUnsupported},
		{name: "explicit inplace honoured", ddl: "ALTER TABLE users ADD COLUMN x INT, ALGORITHM=INPLACE, LOCK=NONE", strategy: StrategyInplace, alg: AlgorithmInplace, sqlHas: "ALTER TABLE `app`.`users` ADD COLUMN x INT, ALGORITHM=INPLACE, LOCK=NONE"},
		{name: "explicit instant the rules doubt", ddl: "ALTER TABLE users MODIFY age BIGINT, ALGORITHM=INSTANT", strategy: StrategyInstant, codes: []string{CodeExplicitAlgorithm}},
		{name: "nocopy is MariaDB's", server: "mysql-8.0.30", ddl: "ALTER TABLE users ADD INDEX k (age), ALGORITHM=NOCOPY", err: ErrUnsupported},
		{name: "no instant on mysql 5.7", server: "mysql-5.7", ddl: "ALTER TABLE users ADD COLUMN x INT, ALGORITHM=INSTANT", err: ErrUnsupported},
		{name: "algorithm default is no choice", ddl: "ALTER TABLE users ADD COLUMN x INT, ALGORITHM=DEFAULT, LOCK=DEFAULT", strategy: StrategyInstant, sqlHas: "x INT, ALGORITHM=INSTANT, LOCK=NONE"},
		{name: "create index with options", ddl: "CREATE INDEX k_age ON users (age) COMMENT 'by age' ALGORITHM=INPLACE LOCK=NONE", strategy: StrategyInplace, alg: AlgorithmInplace, sqlHas: "ADD INDEX k_age (age) COMMENT 'by age', ALGORITHM=INPLACE, LOCK=NONE"},
		// inplace
		{name: "add index nocopy", ddl: "ALTER TABLE users ADD INDEX k_age (age)", strategy: StrategyInplace, alg: AlgorithmNoCopy, sqlHas: "ALGORITHM=NOCOPY, LOCK=NONE"},
		{name: "add index mysql 8.0", server: "mysql-8.0.30", ddl: "ALTER TABLE users ADD INDEX k_age (age)", strategy: StrategyInplace, alg: AlgorithmInplace, sqlHas: "ALGORITHM=INPLACE, LOCK=NONE", notCodes: []string{CodeRebuildLag}},
		{name: "create index becomes ALTER ADD INDEX", ddl: "CREATE INDEX k_age ON users (age)", strategy: StrategyInplace, sqlHas: "ALTER TABLE `app`.`users` ADD INDEX k_age (age), ALGORITHM=NOCOPY, LOCK=NONE"},
		{name: "create unique index", ddl: "CREATE UNIQUE INDEX u_name ON users (name)", strategy: StrategyInplace, codes: []string{CodeUniqueUnchecked}},
		{name: "drop index statement", ddl: "DROP INDEX k_name ON users", strategy: StrategyInplace, codes: []string{CodeDropIndex}, sqlHas: "ALTER TABLE `app`.`users` DROP INDEX k_name, ALGORITHM=NOCOPY"},
		{name: "rename index 10.4 is nocopy", server: "mariadb-10.4", ddl: "ALTER TABLE users RENAME INDEX k_name TO k2", strategy: StrategyInplace, alg: AlgorithmNoCopy},
		{name: "not null rebuilds", ddl: "ALTER TABLE users MODIFY age INT NOT NULL", strategy: StrategyInplace, alg: AlgorithmInplace, codes: []string{CodeRebuildLag, CodeNotNull}},
		{name: "engine innodb rebuilds", ddl: "ALTER TABLE users ENGINE=InnoDB", strategy: StrategyInplace, codes: []string{CodeRebuildLag}},
		{name: "force rebuilds", ddl: "ALTER TABLE users FORCE", strategy: StrategyInplace, sqlHas: "FORCE, ALGORITHM=INPLACE, LOCK=NONE"},
		{name: "add column + add index rebuilds on MariaDB", ddl: "ALTER TABLE users ADD COLUMN x INT, ADD INDEX k_x (x)", strategy: StrategyInplace, alg: AlgorithmInplace},
		{name: "add column after on 10.3 rebuilds", server: "mariadb-10.3", ddl: "ALTER TABLE users ADD COLUMN x INT AFTER id", strategy: StrategyInplace, alg: AlgorithmInplace},
		{name: "add column on mysql 5.7 rebuilds", server: "mysql-5.7", ddl: "ALTER TABLE users ADD COLUMN x INT", strategy: StrategyInplace, codes: []string{CodeRebuildLag}},
		{name: "reorder on mysql rebuilds", server: "mysql-8.0.30", ddl: "ALTER TABLE users MODIFY age INT AFTER email", strategy: StrategyInplace},
		{name: "collation change same charset MariaDB", ddl: "ALTER TABLE users MODIFY name VARCHAR(20) COLLATE utf8mb4_bin", strategy: StrategyInplace, alg: AlgorithmNoCopy, codes: []string{CodeCharsetChange}},
		{name: "replace primary key", ddl: "ALTER TABLE users DROP PRIMARY KEY, ADD PRIMARY KEY (id, email)", strategy: StrategyInplace, codes: []string{CodeDropPrimaryKey}, blocked: true},
		// ghost
		{name: "int to bigint", ddl: "ALTER TABLE users MODIFY age BIGINT", strategy: StrategyGhost, alg: AlgorithmCopy, sqlHas: "MODIFY age BIGINT"},
		{name: "narrow varchar", ddl: "ALTER TABLE users MODIFY name VARCHAR(10)", strategy: StrategyGhost, codes: []string{CodeNarrowing}},
		{name: "narrow bigint to int", ddl: "ALTER TABLE users MODIFY score INT", strategy: StrategyGhost, codes: []string{CodeNarrowing}},
		{name: "narrow text to varchar", ddl: "ALTER TABLE users MODIFY bio VARCHAR(50)", strategy: StrategyGhost, codes: []string{CodeNarrowing}},
		{name: "enum value removed", ddl: "ALTER TABLE users MODIFY status ENUM('a') NOT NULL DEFAULT 'a'", strategy: StrategyGhost, codes: []string{CodeNarrowing}},
		{name: "int to varchar", ddl: "ALTER TABLE users MODIFY age VARCHAR(20)", strategy: StrategyGhost, codes: []string{CodeTypeChange}},
		{name: "convert charset", ddl: "ALTER TABLE users CONVERT TO CHARACTER SET latin1", strategy: StrategyGhost, codes: []string{CodeCharsetChange}},
		{name: "fulltext", ddl: "CREATE FULLTEXT INDEX ft_bio ON users (bio)", strategy: StrategyGhost},
		{name: "auto_increment column", ddl: "ALTER TABLE nopk ADD COLUMN id BIGINT NOT NULL AUTO_INCREMENT UNIQUE", strategy: StrategyGhost, codes: []string{CodeNoSharedKey}, blocked: true},
		{name: "varchar across 255 bytes on mysql", server: "mysql-8.0.30", ddl: "ALTER TABLE users MODIFY name VARCHAR(100)", strategy: StrategyGhost},
		{name: "no shared key", ddl: "ALTER TABLE nopk MODIFY a BIGINT", strategy: StrategyGhost, codes: []string{CodeNoSharedKey}, blocked: true},
		{name: "gh-ost: old primary key within the new one is shared", ddl: "ALTER TABLE users DROP PRIMARY KEY, ADD PRIMARY KEY (id, email), MODIFY age BIGINT",
			overrides: []string{FlagAllowDestructive}, strategy: StrategyGhost, notCodes: []string{CodeNoSharedKey}},
		{name: "gh-ost: unique key within the new primary key is shared", ddl: "ALTER TABLE users DROP PRIMARY KEY, DROP INDEX u_email, ADD PRIMARY KEY (email), MODIFY age BIGINT",
			overrides: []string{FlagAllowDestructive}, strategy: StrategyGhost, notCodes: []string{CodeNoSharedKey}},
		{name: "gh-ost: new key narrower than the old one is not shared", ddl: "ALTER TABLE users DROP PRIMARY KEY, DROP INDEX u_email, ADD PRIMARY KEY (age), MODIFY score INT",
			overrides: []string{FlagAllowDestructive, FlagAllowDataLoss}, strategy: StrategyGhost, codes: []string{CodeNoSharedKey}, blocked: true},
		{name: "gh-ost: nullable shared key bails out", ddl: "ALTER TABLE nullu MODIFY b BIGINT", strategy: StrategyGhost, codes: []string{CodeNoSharedKey}, blocked: true},
		{name: "gh-ost: float key is skipped", ddl: "ALTER TABLE fl MODIFY v BIGINT", strategy: StrategyGhost, codes: []string{CodeNoSharedKey}, blocked: true},
		{name: "drop primary key keeps a shared unique key", ddl: "DROP INDEX `PRIMARY` ON users", strategy: StrategyGhost, codes: []string{CodeDropPrimaryKey}, notCodes: []string{CodeNoSharedKey}, blocked: true},
		{name: "outgoing foreign key", ddl: "ALTER TABLE child CONVERT TO CHARACTER SET latin1", strategy: StrategyGhost, codes: []string{CodeForeignKeys}, blocked: true},
		{name: "incoming foreign key", ddl: "ALTER TABLE parent MODIFY v BIGINT", strategy: StrategyGhost, codes: []string{CodeForeignKeys}, blocked: true},
		{name: "add foreign key", ddl: "ALTER TABLE nopk ADD CONSTRAINT fk_n FOREIGN KEY (a) REFERENCES parent (id)", strategy: StrategyGhost, codes: []string{CodeForeignKeys, CodeNoSharedKey}, blocked: true},
		// findings and overrides
		{name: "drop column blocks", ddl: "ALTER TABLE users DROP COLUMN bio", strategy: StrategyInstant, codes: []string{CodeDropColumn}, blocked: true},
		{name: "drop column overridden", ddl: "ALTER TABLE users DROP COLUMN bio", overrides: []string{FlagAllowDestructive}, strategy: StrategyInstant, codes: []string{CodeDropColumn}},
		{name: "rename column", ddl: "ALTER TABLE users RENAME COLUMN name TO full_name", strategy: StrategyInstant, codes: []string{CodeRenameColumn}, blocked: true},
		{name: "change column renames", ddl: "ALTER TABLE users CHANGE name full_name VARCHAR(20)", strategy: StrategyInstant, codes: []string{CodeRenameColumn}, blocked: true},
		{name: "rename overridden", ddl: "ALTER TABLE users CHANGE name full_name VARCHAR(20)", overrides: []string{FlagAllowIncompatible}, strategy: StrategyInstant},
		{name: "rename table", ddl: "RENAME TABLE users TO people", strategy: StrategyInstant, codes: []string{CodeRenameTable}, blocked: true, sqlHas: "RENAME TABLE `app`.`users` TO `app`.`people`"},
		{name: "alter rename to alone", ddl: "ALTER TABLE users RENAME TO people", strategy: StrategyInstant, codes: []string{CodeRenameTable}, blocked: true},
		{name: "drop table allowed but blocked", ddl: "DROP TABLE nopk", allowDrop: true, strategy: StrategyInstant, codes: []string{CodeDropTable}, blocked: true, sqlHas: "DROP TABLE `app`.`nopk`"},
		{name: "drop table allowed and overridden", ddl: "DROP TABLE nopk", allowDrop: true, overrides: []string{FlagAllowDestructive}, strategy: StrategyInstant, codes: []string{CodeDropTable}},
		{name: "truncate allowed", ddl: "TRUNCATE TABLE nopk", allowDrop: true, strategy: StrategyInstant, codes: []string{CodeTruncateTable}, blocked: true},
		// merging and multiple tables
		{name: "statements on one table merge", ddl: "ALTER TABLE users ADD COLUMN x INT; ALTER TABLE users ADD COLUMN y INT", strategy: StrategyInstant, plans: 1, sqlHas: "ADD COLUMN x INT, ADD COLUMN y INT, ALGORITHM=INSTANT"},
		{name: "two tables two plans", ddl: "ALTER TABLE users ADD COLUMN x INT; CREATE INDEX k ON parent (v)", strategy: StrategyInstant, plans: 2},
		{name: "schema-qualified table", ddl: "ALTER TABLE other.t2 ADD COLUMN w INT", strategy: StrategyInstant, sqlHas: "ALTER TABLE `other`.`t2`"},
		// refusals
		{name: "dml", ddl: "UPDATE users SET age = 1", err: ErrNotSchemaChange},
		{name: "dml after ddl", ddl: "ALTER TABLE users ADD COLUMN x INT; DELETE FROM users", err: ErrNotSchemaChange},
		{name: "create table", ddl: "CREATE TABLE z (id INT)", err: ErrNotSchemaChange},
		{name: "drop table refused", ddl: "DROP TABLE users", err: ErrDropTable},
		{name: "truncate refused", ddl: "TRUNCATE TABLE users", err: ErrDropTable},
		{name: "unknown table", ddl: "ALTER TABLE nope ADD COLUMN x INT", err: ErrUnknownTable},
		{name: "unknown column", ddl: "ALTER TABLE users DROP COLUMN nope", err: ErrUnknownObject},
		{name: "unknown index", ddl: "DROP INDEX nope ON users", err: ErrUnknownObject},
		{name: "drop column if exists tolerates", ddl: "ALTER TABLE users DROP COLUMN IF EXISTS nope, ADD COLUMN x INT", strategy: StrategyInstant},
		{name: "parse error", ddl: "ALTER TABLE users ADD COLUMN x INT DEFAULT 'a", err: ErrParse},
		{name: "empty clause", ddl: "ALTER TABLE users ADD COLUMN x INT,", err: ErrParse},
		{name: "hidden second statement", ddl: "ALTER TABLE users ADD COLUMN x INT; DROP TABLE users", single: true, err: ErrMultipleStatements},
		{name: "empty", ddl: "  ", err: ErrEmpty},
		{name: "partitions planned unanalysed", ddl: "ALTER TABLE users PARTITION BY HASH(id) PARTITIONS 4", strategy: StrategyGhost, codes: []string{CodeNotAnalysed}},
		{name: "rename mixed with clauses", ddl: "ALTER TABLE users RENAME TO people, ADD COLUMN x INT", err: ErrUnsupported},
		{name: "drop table merged with alter", ddl: "ALTER TABLE nopk ADD COLUMN c INT; DROP TABLE nopk", allowDrop: true, err: ErrUnsupported},
	}
}

func TestPlanOffline(t *testing.T) {
	cases := offlineCases()
	require.GreaterOrEqual(t, len(cases), 40)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.server
			if srv == "" {
				srv = "mariadb-10.11"
			}
			p, err := NewOffline(fixture, Options{Server: srv, Schema: "app", Overrides: tc.overrides, AllowDropTable: tc.allowDrop, SingleStatement: tc.single})
			require.NoError(t, err)
			plans, err := p.Plan(context.Background(), tc.ddl)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				require.Nil(t, plans)
				return
			}
			require.NoError(t, err)
			if tc.plans != 0 {
				require.Len(t, plans, tc.plans)
			}
			checkPlan(t, tc, plans[0])
		})
	}
}

func checkPlan(t *testing.T, tc offlineCase, p *Plan) {
	t.Helper()
	require.Equal(t, tc.strategy, p.Strategy, "reason: %s", p.Reason)
	if tc.alg != "" {
		require.Equal(t, tc.alg, p.Algorithm)
	}
	codes := findingCodes(p)
	for _, c := range tc.codes {
		require.Contains(t, codes, c)
	}
	for _, c := range tc.notCodes {
		require.NotContains(t, codes, c)
	}
	require.Equal(t, tc.blocked, p.Blocked, "findings: %+v", p.Findings)
	require.Equal(t, tc.blocked, len(p.Blocking()) > 0)
	switch p.Strategy {
	case StrategyGhost:
		require.Empty(t, p.SQL)
		require.NotEmpty(t, p.GhostAlter)
		require.NotContains(t, p.GhostAlter, "ALGORITHM")
		if tc.sqlHas != "" {
			require.Contains(t, p.GhostAlter, tc.sqlHas)
		}
	default:
		require.Empty(t, p.GhostAlter)
		if tc.sqlHas != "" {
			require.Contains(t, p.SQL, tc.sqlHas)
		}
		if strings.HasPrefix(p.SQL, "ALTER") {
			require.Contains(t, p.SQL, "ALGORITHM="+strings.ToUpper(string(p.Algorithm)))
		}
	}
	require.Contains(t, codes, CodeOffline)
	require.Nil(t, p.Size)
	require.Nil(t, p.Probe)
}

func findingCodes(p *Plan) []string {
	var out []string
	for _, f := range p.Findings {
		out = append(out, f.Code)
	}
	return out
}

func TestRefusalDetails(t *testing.T) {
	p, err := NewOffline(fixture, Options{Server: "mariadb-10.11", Schema: "app", SingleStatement: true})
	require.NoError(t, err)
	ctx := context.Background()

	_, err = p.Plan(ctx, "ALTER TABLE users\n  ADD COLUMN x INT,\n  ADD COLUMN y INT DEFAULT 'x")
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, 3, pe.Line)
	require.Equal(t, 28, pe.Column)
	require.Contains(t, pe.Near, "'x")
	require.Contains(t, err.Error(), "line 3")

	_, err = p.Plan(ctx, "ALTER TABLE users ADD COLUMN x INT; SELECT 1")
	var me *MultipleStatementsError
	require.ErrorAs(t, err, &me)
	require.Equal(t, 2, me.Count)

	_, err = p.Plan(ctx, "INSERT INTO users (id) VALUES (1)")
	var se *StatementError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 1, se.Index)
	require.Contains(t, se.Error(), "INSERT changes rows, not a table's definition")
	_, err = p.Plan(ctx, "UPDATE users SET id = 2")
	require.ErrorAs(t, err, &se)
	require.Contains(t, se.Reason, "UPDATE changes rows", "SQL words, not the parser's type names")
	_, err = p.Plan(ctx, "CREATE DATABASE x")
	require.ErrorAs(t, err, &se)
	require.Contains(t, se.Reason, "CREATE DATABASE is not ALTER TABLE")

	_, err = p.Plan(ctx, "ALTER TABLE ghost_town ADD COLUMN x INT")
	var ue *UnknownTableError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, UnknownTableError{Schema: "app", Table: "ghost_town"}, *ue)
}

// A capability injected offline stands for the server: its answer overrules the rules, the plan
// records the disagreement, and a probe error is the Plan's error.
func TestCapabilityOverrulesRules(t *testing.T) {
	answer := func(accepted Algorithm) Capability {
		return func(_ context.Context, schema, table, clauses string, algs []Algorithm) ([]ProbeAnswer, error) {
			var out []ProbeAnswer
			for _, a := range algs {
				if a == accepted {
					return append(out, ProbeAnswer{Algorithm: a, Accepted: true}), nil
				}
				out = append(out, ProbeAnswer{Algorithm: a, ErrorCode: 1846, Reason: "ALGORITHM=" + string(a) + " is not supported. Reason: test"})
			}
			return out, nil
		}
	}
	cases := []struct {
		name         string
		ddl          string
		accepted     Algorithm
		strategy     Strategy
		rules        Strategy
		disagreement bool
	}{
		{"agree instant", "ALTER TABLE users ADD COLUMN x INT", AlgorithmInstant, StrategyInstant, StrategyInstant, false},
		{"server better than rules", "ALTER TABLE users STATS_PERSISTENT=1", AlgorithmInstant, StrategyInstant, StrategyInplace, true},
		{"server worse than rules", "ALTER TABLE users ADD INDEX k_age (age)", "", StrategyGhost, StrategyInplace, true},
		{"server rebuilds", "ALTER TABLE users ADD INDEX k_age (age)", AlgorithmInplace, StrategyInplace, StrategyInplace, true},
		{"rules copy, server nocopy", "ALTER TABLE users MODIFY age BIGINT", AlgorithmNoCopy, StrategyInplace, StrategyGhost, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewOffline(fixture, Options{Server: "mariadb-10.11", Schema: "app", Capability: answer(tc.accepted)})
			require.NoError(t, err)
			plans, err := p.Plan(context.Background(), tc.ddl)
			require.NoError(t, err)
			pl := plans[0]
			require.Equal(t, tc.strategy, pl.Strategy)
			require.Equal(t, tc.rules, pl.RulesStrategy)
			require.NotEmpty(t, pl.Probe)
			require.Equal(t, tc.disagreement, pl.Disagreement != "")
			require.Equal(t, tc.disagreement, slices.Contains(findingCodes(pl), CodeDisagreement))
		})
	}

	boom := errors.New("boom")
	p, err := NewOffline(fixture, Options{Server: "mariadb-10.11", Schema: "app",
		Capability: func(context.Context, string, string, string, []Algorithm) ([]ProbeAnswer, error) { return nil, boom }})
	require.NoError(t, err)
	_, err = p.Plan(context.Background(), "ALTER TABLE users ADD COLUMN x INT")
	require.ErrorIs(t, err, boom)

	// FOREIGN KEY clauses are not probed: the clone has no foreign keys.
	plans, err := p.Plan(context.Background(), "ALTER TABLE child DROP FOREIGN KEY fk_p")
	require.NoError(t, err)
	require.Contains(t, findingCodes(plans[0]), CodeProbeSkipped)
	require.Equal(t, StrategyInplace, plans[0].Strategy)
}

func TestDecideThreshold(t *testing.T) {
	opts := Options{RebuildMaxRows: 1000, RebuildMaxBytes: 1 << 20}
	cases := []struct {
		name    string
		alg     Algorithm
		rebuild bool
		size    *Size
		want    Strategy
		warn    bool
	}{
		{"instant", AlgorithmInstant, false, &Size{Rows: 1e9}, StrategyInstant, false},
		{"nocopy big", AlgorithmNoCopy, false, &Size{Rows: 1e9}, StrategyInplace, false},
		{"mysql inplace no rebuild big", AlgorithmInplace, false, &Size{Rows: 1e9}, StrategyInplace, false},
		{"rebuild small", AlgorithmInplace, true, &Size{Rows: 10, DataBytes: 16384}, StrategyInplace, true},
		{"rebuild many rows", AlgorithmInplace, true, &Size{Rows: 1001}, StrategyGhost, false},
		{"rebuild many bytes", AlgorithmInplace, true, &Size{Rows: 10, DataBytes: 1 << 20, IndexBytes: 1}, StrategyGhost, false},
		{"rebuild unknown size", AlgorithmInplace, true, nil, StrategyInplace, true},
		{"copy", AlgorithmCopy, false, nil, StrategyGhost, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, reason, warn := decide(tc.alg, tc.rebuild, tc.size, opts)
			require.Equal(t, tc.want, got)
			require.NotEmpty(t, reason)
			require.Equal(t, tc.warn, warn != nil)
			if tc.want == StrategyGhost && tc.alg == AlgorithmInplace {
				require.Contains(t, reason, "replica")
			}
		})
	}
}

// ghostgate's own store schema and the system schemas are refused at plan time, as targets and as
// rename destinations (issue 10).
func TestProtectedSchemas(t *testing.T) {
	require.Equal(t, store.DefaultDatabase, DefaultStoreSchema)
	defs := fixture + "CREATE TABLE _ghostgate.migrations (id INT PRIMARY KEY, ddl TEXT); CREATE TABLE mystate.m (id INT PRIMARY KEY);" +
		"CREATE TABLE mysql.user2 (id INT PRIMARY KEY); CREATE TABLE sys.x (id INT PRIMARY KEY);"
	p, err := NewOffline(defs, Options{Server: "mariadb-10.11", Schema: "app", StoreSchema: "mystate", AllowDropTable: true})
	require.NoError(t, err)
	for _, ddl := range []string{
		"ALTER TABLE _ghostgate.migrations DROP COLUMN ddl",
		"ALTER TABLE `_GHOSTGATE`.migrations ADD COLUMN x INT",
		"ALTER TABLE mystate.m ADD COLUMN x INT",
		"ALTER TABLE mysql.user2 ADD COLUMN x INT",
		"ALTER TABLE information_schema.tables ADD COLUMN x INT",
		"ALTER TABLE performance_schema.threads ADD COLUMN x INT",
		"CREATE INDEX k ON sys.x (id)",
		"DROP INDEX k ON sys.x",
		"DROP TABLE app.users, _ghostgate.migrations",
		"TRUNCATE TABLE mysql.user2",
		"RENAME TABLE app.users TO mysql.users",
		"RENAME TABLE _ghostgate.migrations TO app.m",
		"ALTER TABLE users RENAME TO _ghostgate.users",
	} {
		_, err := p.Plan(context.Background(), ddl)
		require.ErrorIs(t, err, ErrProtectedSchema, ddl)
		require.True(t, IsRefusal(err))
		require.Contains(t, err.Error(), "schema", ddl)
	}
}

// The performance_schema finding of gh-ost plans follows the server's setting (the connected
// side, P_S=ON on the sandbox, is in TestPerformanceSchemaConnected).
func TestPerformanceSchemaFinding(t *testing.T) {
	off, on := false, true
	for _, tc := range []struct {
		perf    *bool
		server  string
		ddl     string
		finding bool
	}{
		{&off, "mariadb-10.11", "ALTER TABLE users MODIFY age BIGINT", true},
		{&on, "mariadb-10.11", "ALTER TABLE users MODIFY age BIGINT", false},
		{nil, "mariadb-10.11", "ALTER TABLE users MODIFY age BIGINT", false},
		{&off, "mariadb-10.11", "ALTER TABLE users ADD COLUMN x INT", false}, // native: no gh-ost cut-over
		{&off, "mysql-8.0.30", "ALTER TABLE users MODIFY age BIGINT", false}, // the MariaDB race only
	} {
		p, err := NewOffline(fixture, Options{Server: tc.server, Schema: "app", PerformanceSchema: tc.perf})
		require.NoError(t, err)
		plans, err := p.Plan(context.Background(), tc.ddl)
		require.NoError(t, err)
		require.Equal(t, tc.finding, slices.Contains(findingCodes(plans[0]), CodePerformanceSchemaOff), "%+v", tc)
		if tc.finding {
			msg := plans[0].Findings[slices.Index(findingCodes(plans[0]), CodePerformanceSchemaOff)].Message
			for _, w := range []string{"performance_schema=OFF", "lost", "binlog", "performance_schema=ON", "restart"} {
				require.Contains(t, msg, w)
			}
			require.Equal(t, SeverityInfo, plans[0].Findings[slices.Index(findingCodes(plans[0]), CodePerformanceSchemaOff)].Severity,
				"the rename guard closes the race: information, not a warning")
			require.False(t, plans[0].Blocked)
		}
	}
}
