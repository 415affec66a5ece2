package planner

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// seed creates table name with n rows: id PK, a nullable, b VARCHAR(20), c NOT NULL.
func seed(t testing.TB, d *sandboxtest.DB, name string, n int) {
	t.Helper()
	d.Exec(t, "CREATE TABLE "+quoteIdent(name)+` (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, a INT NULL,
		b VARCHAR(20) NOT NULL DEFAULT '', c INT NOT NULL, KEY kb (b)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`)
	if n > 0 {
		d.Exec(t, fmt.Sprintf("INSERT INTO %s (a, b, c) SELECT seq, CONCAT('v', seq), seq FROM seq_1_to_%d", quoteIdent(name), n))
	}
}

// requireNoClone fails when a probe clone is left in the test's database.
func requireNoClone(t testing.TB, d *sandboxtest.DB) {
	t.Helper()
	var n int
	require.NoError(t, d.Primary.QueryRow(`SELECT COUNT(*) FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE '\_gg\_probe\_%'`, d.Name).Scan(&n))
	require.Zero(t, n, "probe clone left behind")
}

func connected(t testing.TB, d *sandboxtest.DB, opts Options) *Planner {
	t.Helper()
	p, err := New(d.Primary, opts)
	require.NoError(t, err)
	return p
}

// The real server answers instant, inplace (NOCOPY and rebuilding INPLACE) and ghost; the native
// statement of each plan really runs on a copy of the table.
func TestProbeAgainstServer(t *testing.T) {
	d := sandboxtest.New(t)
	p := connected(t, d, Options{})
	require.Equal(t, MariaDB, p.Server().Flavor)
	require.True(t, p.Connected())
	cases := []struct {
		name         string
		clauses      string
		strategy     Strategy
		alg          Algorithm
		code         string // a finding code expected
		refusals     int
		disagreement bool
	}{
		{"add column", "ADD COLUMN x INT", StrategyInstant, AlgorithmInstant, CodeTableSize, 0, false},
		{"add index", "ADD INDEX ia (a)", StrategyInplace, AlgorithmNoCopy, CodeTableSize, 1, false},
		{"nullability rebuild", "MODIFY c INT NULL", StrategyInplace, AlgorithmInplace, CodeRebuildLag, 2, false},
		{"int to bigint", "MODIFY a BIGINT", StrategyGhost, AlgorithmCopy, CodeTableSize, 3, false},
		{"stats option: server beats rules", "STATS_PERSISTENT=1", StrategyInstant, AlgorithmInstant, CodeDisagreement, 0, true},
		{"rebuild index same definition", "DROP INDEX kb, ADD INDEX kb (b)", StrategyInstant, AlgorithmInstant, CodeDisagreement, 0, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("t%d", i)
			seed(t, d, name, 50)
			plans, err := p.Plan(context.Background(), "ALTER TABLE "+name+" "+tc.clauses)
			require.NoError(t, err)
			require.Len(t, plans, 1)
			pl := plans[0]
			require.Equal(t, tc.strategy, pl.Strategy, pl.Reason)
			require.Equal(t, tc.alg, pl.Algorithm)
			require.Contains(t, findingCodes(pl), tc.code)
			require.Len(t, pl.Probe, min(tc.refusals+1, 3))
			for j, a := range pl.Probe {
				if j < tc.refusals {
					require.False(t, a.Accepted)
					require.Contains(t, []uint16{1845, 1846}, a.ErrorCode)
					require.Contains(t, a.Reason, "is not supported")
				} else {
					require.True(t, a.Accepted)
				}
			}
			require.Equal(t, tc.disagreement, pl.Disagreement != "")
			require.NotNil(t, pl.Size)
			require.EqualValues(t, d.Name, pl.Schema)
			require.NotNil(t, pl.EstimatedSeconds)
			if pl.SQL != "" {
				_, err := d.Primary.Exec(pl.SQL) // the exact statement is valid and online
				require.NoError(t, err, pl.SQL)
			} else {
				require.NotEmpty(t, pl.GhostAlter)
			}
			requireNoClone(t, d)
		})
	}
}

// Above the size threshold a rebuilding INPLACE change goes to gh-ost, and the plan says why.
func TestProbeRebuildThreshold(t *testing.T) {
	d := sandboxtest.New(t)
	seed(t, d, "t", 200)
	d.Exec(t, "ANALYZE TABLE t")
	p := connected(t, d, Options{RebuildMaxRows: 10})
	plans, err := p.Plan(context.Background(), "ALTER TABLE t MODIFY c INT NULL")
	require.NoError(t, err)
	pl := plans[0]
	require.Equal(t, StrategyGhost, pl.Strategy)
	require.Equal(t, AlgorithmInplace, pl.Algorithm)
	require.True(t, pl.Rebuild)
	require.Contains(t, pl.Reason, "replica")
	require.Equal(t, "MODIFY c INT NULL", pl.GhostAlter)
	requireNoClone(t, d)
}

// Refused DDL never leaves a clone: refusals before the probe create none, and a server refusal
// during the probe drops it.
func TestProbeRefusalsLeaveNoClone(t *testing.T) {
	d := sandboxtest.New(t)
	seed(t, d, "t", 10)
	p := connected(t, d, Options{})
	ctx := context.Background()
	_, err := p.Plan(ctx, "ALTER TABLE t ADD INDEX ix (nope)")
	require.ErrorIs(t, err, ErrServerRejected)
	var sre *ServerRejectedError
	require.ErrorAs(t, err, &sre)
	require.EqualValues(t, 1072, sre.Code) // ER_KEY_COLUMN_DOES_NOT_EXITS
	require.NotContains(t, sre.Message, ProbePrefix)
	requireNoClone(t, d)

	for ddl, want := range map[string]error{
		"DROP TABLE t":                     ErrDropTable,
		"UPDATE t SET a = 1":               ErrNotSchemaChange,
		"ALTER TABLE missing ADD x INT":    ErrUnknownTable,
		"ALTER TABLE t DROP COLUMN nope":   ErrUnknownObject,
		"ALTER TABLE t ADD COLUMN x INT,,": ErrParse,
	} {
		_, err := p.Plan(ctx, ddl)
		require.ErrorIs(t, err, want, ddl)
	}
	requireNoClone(t, d)
}

// A context cancelled while the clone exists (Ctrl-C mid-probe) still drops it.
func TestProbeCancelledDropsClone(t *testing.T) {
	d := sandboxtest.New(t)
	seed(t, d, "t", 10)
	p := connected(t, d, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cloned := false
	p.prober.onClone = func() {
		cloned = true
		var n int
		require.NoError(t, d.Primary.QueryRow(`SELECT COUNT(*) FROM information_schema.TABLES
			WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE '\_gg\_probe\_%'`, d.Name).Scan(&n))
		require.Equal(t, 1, n, "the clone exists while probing")
		cancel()
	}
	_, err := p.Plan(ctx, "ALTER TABLE t ADD INDEX ia (a)")
	require.ErrorIs(t, err, context.Canceled)
	require.True(t, cloned)
	requireNoClone(t, d)

	// Cancelled before anything ran.
	p.prober.onClone = nil
	_, err = p.Plan(ctx, "ALTER TABLE t ADD INDEX ia (a)")
	require.ErrorIs(t, err, context.Canceled)
	requireNoClone(t, d)
}

// ADD UNIQUE counts the rows gh-ost would drop; NULLs are not duplicates.
func TestDuplicateCount(t *testing.T) {
	d := sandboxtest.New(t)
	seed(t, d, "t", 0)
	d.Exec(t, "INSERT INTO t (a, b, c) VALUES (1,'x',1),(1,'y',2),(1,'z',3),(2,'x',4),(2,'q',5),(3,'r',6),(NULL,'s',7),(NULL,'s2',8)")
	p := connected(t, d, Options{})
	plans, err := p.Plan(context.Background(), "ALTER TABLE t ADD UNIQUE KEY ua (a)")
	require.NoError(t, err)
	f := findingByCode(t, plans[0], CodeUniqueDuplicates)
	require.Equal(t, SeverityError, f.Severity)
	require.Contains(t, f.Message, "3 existing row(s)") // two extra 1s, one extra 2
	require.True(t, plans[0].Blocked)

	p = connected(t, d, Options{Overrides: []string{FlagAllowDataLoss}})
	plans, err = p.Plan(context.Background(), "CREATE UNIQUE INDEX ua ON t (a)")
	require.NoError(t, err)
	require.True(t, findingByCode(t, plans[0], CodeUniqueDuplicates).Overridden)
	require.False(t, plans[0].Blocked)

	plans, err = p.Plan(context.Background(), "ALTER TABLE t ADD UNIQUE KEY ub (b(1), c)")
	require.NoError(t, err)
	require.Equal(t, SeverityInfo, findingByCode(t, plans[0], CodeUniqueChecked).Severity)
	requireNoClone(t, d)
}

// Narrowing checks whether the existing data fits.
func TestNarrowingCheck(t *testing.T) {
	d := sandboxtest.New(t)
	seed(t, d, "t", 0)
	d.Exec(t, "INSERT INTO t (a, b, c) VALUES (NULL, 'short', 1), (70000, 'a much longer value', 2)")
	p := connected(t, d, Options{})
	cases := []struct {
		ddl, code string
		sev       Severity
	}{
		{"ALTER TABLE t MODIFY b VARCHAR(5) NOT NULL DEFAULT ''", CodeNarrowingDataLoss, SeverityError},
		{"ALTER TABLE t MODIFY b VARCHAR(19) NOT NULL DEFAULT ''", CodeNarrowing, SeverityWarning},
		{"ALTER TABLE t MODIFY a SMALLINT", CodeNarrowingDataLoss, SeverityError},
		{"ALTER TABLE t MODIFY c SMALLINT NOT NULL", CodeNarrowing, SeverityWarning},
		{"ALTER TABLE t MODIFY a INT NOT NULL", CodeNarrowingDataLoss, SeverityError},
		{"ALTER TABLE t MODIFY c INT UNSIGNED NOT NULL", CodeNarrowing, SeverityWarning},
	}
	for _, tc := range cases {
		plans, err := p.Plan(context.Background(), tc.ddl)
		require.NoError(t, err, tc.ddl)
		require.Equal(t, tc.sev, findingByCode(t, plans[0], tc.code).Severity, tc.ddl)
	}
	requireNoClone(t, d)
}

// gh-ost prerequisites seen on the server: triggers and foreign keys in either direction.
func TestGhostPrerequisitesConnected(t *testing.T) {
	d := sandboxtest.New(t)
	seed(t, d, "t", 5)
	d.Exec(t, "CREATE TABLE child (id INT PRIMARY KEY, t_id INT, CONSTRAINT fk_t FOREIGN KEY (t_id) REFERENCES t (id))",
		"CREATE TRIGGER trg_t BEFORE INSERT ON t FOR EACH ROW SET NEW.c = NEW.c + 1")
	p := connected(t, d, Options{})
	plans, err := p.Plan(context.Background(), "ALTER TABLE t MODIFY a BIGINT")
	require.NoError(t, err)
	pl := plans[0]
	require.Equal(t, StrategyGhost, pl.Strategy)
	require.Contains(t, findingByCode(t, pl, CodeTriggers).Message, "trg_t")
	require.Contains(t, findingByCode(t, pl, CodeForeignKeys).Message, "fk_t")
	require.True(t, pl.Blocked)
	require.Empty(t, findingByCode(t, pl, CodeTriggers).Override)
	require.Equal(t, SeverityInfo, findingByCode(t, pl, CodeTriggers).Severity, "triggers are carried over; the foreign key blocks")

	plans, err = p.Plan(context.Background(), "ALTER TABLE child MODIFY t_id INT NOT NULL, FORCE")
	require.NoError(t, err)
	require.Equal(t, StrategyInplace, plans[0].Strategy) // not ghost: no FK finding needed
	require.NotContains(t, findingCodes(plans[0]), CodeForeignKeys)
	requireNoClone(t, d)
}

func findingByCode(t testing.TB, p *Plan, code string) Finding {
	t.Helper()
	for _, f := range p.Findings {
		if f.Code == code {
			return f
		}
	}
	require.Failf(t, "finding missing", "no %s in %+v", code, p.Findings)
	return Finding{}
}
