package ghost

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/migration"
)

func validSpec() Spec {
	ep := Endpoint{Host: "127.0.0.1", Port: 3306, User: "u"}
	return Spec{MigrationID: "m1", Schema: "s", Table: "t", Alter: "ADD COLUMN c INT",
		Primary: ep, Replica: Endpoint{Host: "127.0.0.1", Port: 3307, User: "u"}, WorkDir: "/tmp/gg/m1"}
}

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Spec)
		want   string // substring of the error; "" means valid
	}{
		{"valid", func(*Spec) {}, ""},
		{"on primary needs no replica", func(s *Spec) { s.OnPrimary = true; s.Replica = Endpoint{} }, ""},
		{"no id", func(s *Spec) { s.MigrationID = " " }, "migration id"},
		{"no table", func(s *Spec) { s.Table = "" }, "schema and table"},
		{"no alter", func(s *Spec) { s.Alter = "" }, "alter clause is empty"},
		{"two statements", func(s *Spec) { s.Alter = "ADD c INT; DROP TABLE x" }, "one statement"},
		{"relative work dir", func(s *Spec) { s.WorkDir = "work" }, "absolute"},
		{"long work dir", func(s *Spec) { s.WorkDir = "/" + strings.Repeat("d", 100) }, "unix socket"},
		{"no replica", func(s *Spec) { s.Replica = Endpoint{} }, "replica endpoint"},
		{"bad primary port", func(s *Spec) { s.Primary.Port = 70000 }, "primary endpoint"},
		{"chunk too small", func(s *Spec) { s.ChunkSize = 5 }, "chunk size"},
		{"batch too big", func(s *Spec) { s.DMLBatchSize = 101 }, "dml batch"},
		{"lag too small", func(s *Spec) { s.MaxLagMillis = 50 }, "max lag"},
		{"lock timeout too long", func(s *Spec) { s.CutOverLockTimeout = time.Minute }, "lock timeout"},
		{"lock timeout odd", func(s *Spec) { s.CutOverLockTimeout = 3 * time.Second }, "whole, even number of seconds"},
		{"lock timeout fractional", func(s *Spec) { s.CutOverLockTimeout = 2500 * time.Millisecond }, "whole, even number of seconds"},
		{"lock timeout too short", func(s *Spec) { s.CutOverLockTimeout = time.Second }, "2s..20s"},
		{"lock timeout longest", func(s *Spec) { s.CutOverLockTimeout = 20 * time.Second }, ""},
		{"nice ratio negative", func(s *Spec) { s.NiceRatio = -1 }, "nice ratio"},
		{"bad max load", func(s *Spec) { s.MaxLoad = "Threads_running" }, "max load"},
		{"good loads", func(s *Spec) { s.MaxLoad, s.CriticalLoad = "Threads_running=25", "Threads_running=200" }, ""},
		{"table too long", func(s *Spec) { s.Table = strings.Repeat("t", 60) }, "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			tt.change(&s)
			err := s.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidSpec)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestWithDefaultsMatchGhostFlags(t *testing.T) {
	s := validSpec().withDefaults()
	require.EqualValues(t, 1000, s.ChunkSize)
	require.EqualValues(t, 10, s.DMLBatchSize)
	require.EqualValues(t, 1500, s.MaxLagMillis)
	require.Equal(t, 4*time.Second, s.CutOverLockTimeout)
	require.EqualValues(t, 2, s.ghostLockTimeoutSeconds(), "gh-ost doubles it for LOCK TABLES")
	require.EqualValues(t, 60, s.Retries)
	require.Equal(t, ServerIDFor("m1"), s.ReplicaServerID)
	custom := validSpec()
	custom.ChunkSize, custom.ReplicaServerID = 200, 42
	require.EqualValues(t, 200, custom.withDefaults().ChunkSize)
	require.EqualValues(t, 42, custom.withDefaults().ReplicaServerID)
}

func TestServerIDFor(t *testing.T) {
	seen := map[uint32]string{}
	for _, id := range []string{"a", "b", "m-1", "m-2", "2024-01-01-orders", "2024-01-01-users"} {
		sid := ServerIDFor(id)
		require.Equal(t, sid, ServerIDFor(id), "stable")
		require.GreaterOrEqual(t, sid, uint32(100_000_000))
		require.NotContains(t, seen, sid, "ids of %s and %s collide", id, seen[sid])
		seen[sid] = id
	}
}

func TestTableNames(t *testing.T) {
	require.Equal(t, "_orders_gho", GhostTable("orders"))
	require.Equal(t, "_orders_ghc", ChangelogTable("orders"))
	long := strings.Repeat("x", 64)
	require.Len(t, GhostTable(long), 64)
	require.True(t, strings.HasSuffix(GhostTable(long), "_gho"))

	tests := []struct {
		name, table string
		want        bool
	}{
		{"_orders_del", "orders", true},
		{"_orders_20240101120000_del", "orders", true},
		{"_orders_2024010112000_del", "orders", false},
		{"_orders2_20240101120000_del", "orders", false},
		{"_orders_gho", "orders", false},
		{ghostTableName(long, "20240101120000_del"), long, true},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, isOldTableOf(tt.name, tt.table), tt.name)
	}
}

func TestNormalizeShape(t *testing.T) {
	a := "CREATE TABLE `_t_ggs_1234` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=17 DEFAULT CHARSET=latin1"
	b := "CREATE TABLE `t` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=latin1"
	require.Equal(t, normalizeShape(b), normalizeShape(a))
	require.NotEqual(t, normalizeShape(b), normalizeShape(strings.Replace(b, "int(11)", "bigint(20)", 1)))
}

func TestQuoteIdent(t *testing.T) {
	require.Equal(t, "`a``b`", quoteIdent("a`b"))
	require.Equal(t, "`s`.`t`", qualified("s", "t"))
}

func TestRateAndETA(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var s []sample
	for i := range 20 {
		s = appendSample(s, sample{at: t0.Add(time.Duration(i) * 500 * time.Millisecond), rows: int64(i) * 100})
	}
	require.Len(t, s, 11, "only the last 5s are kept")
	require.InDelta(t, 200, rate(s), 0.001)

	p := migration.Progress{RowsCopied: 1000, RowsEstimated: 3000, RowsPerSecond: 200, Ratio: 1.0 / 3}
	fillETA(&p)
	require.Equal(t, 10*time.Second, p.ETA)
	p = migration.Progress{RowsCopied: 3000, RowsEstimated: 3000, RowsPerSecond: 200, Ratio: 1}
	fillETA(&p)
	require.Zero(t, p.ETA)
	require.Zero(t, rate(nil))
}

func TestLeftoverErrorMessage(t *testing.T) {
	err := error(&LeftoverError{Schema: "s", Table: "t", Tables: []string{"_t_gho"}})
	var le *LeftoverError
	require.True(t, errors.As(err, &le))
	require.ErrorContains(t, err, "_t_gho")
}
