package cli

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// printed returns the commands printed after prefix ("clean up with: ", "drop with: ").
func printed(out, prefix string) [][]string {
	var cmds [][]string
	for _, l := range strings.Split(out, "\n") {
		if _, c, ok := strings.Cut(l, prefix); ok {
			cmds = append(cmds, strings.Fields(c))
		}
	}
	return cmds
}

// TestCleanupVerbatim (issue 13): the commands `migrate cleanup` prints work as printed; the old
// tables that completed migrations kept are listed as kept (age, size), are not leftovers of a
// later run, are not dropped through the original's name, and each drop is named.
func TestCleanupVerbatim(t *testing.T) {
	d := newOrders(t)
	conn := connArgs(t, d)
	// The printed commands carry no connection flags: the user's environment supplies them.
	t.Setenv("GHOSTGATE_HOST", d.Env.Primary.Host)
	t.Setenv("GHOSTGATE_PORT", strconv.Itoa(d.Env.Primary.Port))
	t.Setenv("GHOSTGATE_USER", d.Env.Primary.User)
	replica := []string{"--replica", d.Env.Replica.Addr()}

	// Two gh-ost migrations, each keeping the original as _orders_<time>_del.
	r := run(t, "", runArgs(t, conn, append(replica, "ALTER TABLE orders MODIFY qty BIGINT NOT NULL")...)...)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	r = run(t, "", runArgs(t, conn, append(replica, "ALTER TABLE orders MODIFY customer_id BIGINT NOT NULL")...)...)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	require.NotContains(t, r.stdout+r.stderr, "leftover of an earlier run", "a kept old table is not a leftover")
	kept := regexp.MustCompile(`_orders_\d{14}_del`).FindAllString(strings.Join(d.Tables(t), " "), -1)
	require.Len(t, kept, 2, "two old tables kept: %v", d.Tables(t))

	// A dead run's leftovers.
	d.Exec(t, "CREATE TABLE _orders_gho LIKE orders", "CREATE TABLE _orders_ghc (id INT PRIMARY KEY)")

	r = run(t, "", "cleanup", "--schema", d.Name)
	require.Equal(t, ExitOK, r.code, r.stderr)
	t.Log(r.stdout)
	cleanups := printed(r.stdout, "clean up with: ")
	require.Len(t, cleanups, 2, r.stdout)
	require.Contains(t, r.stdout, "kept old tables (undo points of completed migrations, not leftovers):")
	var ids []string
	for _, k := range kept {
		m := regexp.MustCompile(regexp.QuoteMeta(d.Name+"."+k) + `  of orders, migration (\w{26}), kept \d+s ago, ~\d+ rows, \d+\.\d MiB`).FindStringSubmatch(r.stdout)
		require.NotNil(t, m, "%s listed with its migration, age and size", k)
		ids = append(ids, m[1])
	}
	require.NotEqual(t, ids[0], ids[1], "each old table is its own migration's")
	drops := printed(r.stdout, "drop with: ")
	require.Len(t, drops, 2)

	// --table with the original's name cleans its leftovers, never its kept tables.
	r = run(t, "", "cleanup", "--schema", d.Name, "--table", "orders", "--yes")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "cleaned: DROP TABLE `"+d.Name+"`.`_orders_gho`")
	require.Contains(t, r.stdout, "cleaned: DROP TABLE `"+d.Name+"`.`_orders_ghc`")
	r = run(t, "", "cleanup", "--schema", d.Name, "--table", "orders", "--yes")
	require.Equal(t, ExitError, r.code)
	require.Contains(t, r.stderr, "only kept old tables of completed migrations")
	require.Contains(t, r.stderr, "--table "+kept[0])

	// The printed command, verbatim (plus --yes: no terminal here to confirm).
	d.Exec(t, "CREATE TABLE _orders_ghc (id INT PRIMARY KEY)")
	r = run(t, "", "cleanup", "--schema", d.Name)
	cleanups = printed(r.stdout, "clean up with: ")
	require.Len(t, cleanups, 1, r.stdout)
	require.Equal(t, []string{"migrate", "cleanup", "--schema", d.Name, "--table", "_orders_ghc"}, cleanups[0])
	r = run(t, "", append(cleanups[0][1:], "--yes")...)
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, "cleaned: DROP TABLE `"+d.Name+"`.`_orders_ghc`\n", r.stdout)

	// A kept table is dropped by its own name only, with a warning that revert is gone.
	r = run(t, "", append(drops[0][1:], "--yes")...)
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stderr, "can no longer be reverted")
	require.Contains(t, r.stdout, "cleaned: DROP TABLE `"+d.Name+"`.`"+drops[0][len(drops[0])-1]+"`")
	left := regexp.MustCompile(`_orders_\d{14}_del`).FindAllString(strings.Join(d.Tables(t), " "), -1)
	require.Equal(t, []string{drops[1][len(drops[1])-1]}, left, "the other undo point is still there")
	require.Contains(t, d.Tables(t), "orders")
}
