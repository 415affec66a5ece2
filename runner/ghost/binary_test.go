package ghost

import (
	"context"
	"database/sql"
	"encoding/hex"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// zeroTailed returns n bytes of which the last 1..n-1 are 0x00 (the first is never 0: a value
// of all zeros is a case of its own, see below).
func zeroTailed(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	keep := 1 + rng.IntN(n-1)
	for i := range keep {
		b[i] = byte(1 + rng.IntN(255))
	}
	return b
}

// TestBinaryTrailingZeros is gh-ost issue #909 checked against v1.1.10: a BINARY(N) value ending
// in 0x00 bytes is logged by the server without its padding, and a binlog reader that does not
// pad it back writes a shorter value to the ghost table (and, with the column in the unique key,
// updates and deletes miss their row). Rows are written during the copy and while gh-ost waits
// at the gate (the binlog-applied path) and before it starts (the row-copy path); the binary
// column is both the primary key and a plain column. Afterwards every byte must match a
// reference table written in the same transactions, on primary and replica.
func TestBinaryTrailingZeros(t *testing.T) {
	db := sandboxtest.New(t)
	const shape = "(id BINARY(16) NOT NULL PRIMARY KEY, v BINARY(8) NOT NULL, n INT NOT NULL)"
	db.Exec(t, "CREATE TABLE bz "+shape, "CREATE TABLE ref "+shape)
	rng := rand.New(rand.NewPCG(9, 10))
	var mu sync.Mutex
	var ids [][]byte
	used := map[string]bool{} // ids ever inserted: a random short id can repeat
	both := func(stmt string, args ...any) error {
		tx, err := db.Primary.Begin()
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		for _, table := range []string{"bz", "ref"} {
			if _, err := tx.Exec("/* "+table+" */ "+replaceTable(stmt, table), args...); err != nil {
				return err
			}
		}
		return tx.Commit()
	}
	insert := func() error {
		id := zeroTailed(rng, 16)
		for used[string(id)] {
			id = zeroTailed(rng, 16)
		}
		used[string(id)] = true
		v := zeroTailed(rng, 8)
		if rng.IntN(10) == 0 {
			v = make([]byte, 8) // all zeros
		}
		if err := both("INSERT INTO @T (id, v, n) VALUES (?, ?, ?)", id, v, rng.IntN(1000)); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	}
	for range 3000 { // copied rows
		require.NoError(t, insert())
	}
	db.WaitReplica(t)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var errs []error
	ops := 0
	wg.Add(1)
	go func() { // binlog-applied rows: inserts, updates by the binary key, deletes by it
		defer wg.Done()
		for ctx.Err() == nil {
			mu.Lock()
			var err error
			switch op := rng.IntN(10); {
			case op < 5:
				err = insert()
			case op < 9:
				id := ids[rng.IntN(len(ids))]
				err = both("UPDATE @T SET v = ?, n = n + 1 WHERE id = ?", zeroTailed(rng, 8), id)
			default:
				i := rng.IntN(len(ids))
				err = both("DELETE FROM @T WHERE id = ?", ids[i])
				ids[i] = ids[len(ids)-1]
				ids = ids[:len(ids)-1]
			}
			if err != nil {
				errs = append(errs, err)
			}
			ops++
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	stop := func() { cancel(); wg.Wait() }
	defer stop()

	spec := testSpec(t, db, "bz", "MODIFY n BIGINT NOT NULL")
	spec.ChunkSize = 50
	w := startWorker(t, spec)
	select {
	case <-w.Ready():
	case <-w.Done():
		_, err := w.Wait()
		t.Fatalf("ended before the gate: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("not ready after 90s")
	}
	time.Sleep(time.Second) // binlog-applied writes while waiting at the gate, too
	require.NoError(t, w.CutOver(0))
	_, err := w.Wait()
	require.NoError(t, err, logTail(spec.LogFile(), 30))
	stop()
	require.Empty(t, errs)
	require.Greater(t, appliedEvents(t, w), int64(100), "the binlog apply path was exercised")
	t.Logf("writer: %d ops during the migration", ops)

	db.WaitReplica(t)
	for name, conn := range map[string]*sql.DB{"primary": db.Primary, "replica": db.Replica} {
		requireBytesEqual(t, name, conn)
	}
}

// replaceTable puts table where stmt says @T.
func replaceTable(stmt, table string) string {
	for i := 0; i+1 < len(stmt); i++ {
		if stmt[i] == '@' && stmt[i+1] == 'T' {
			return stmt[:i] + quoteIdent(table) + stmt[i+2:]
		}
	}
	return stmt
}

// requireBytesEqual compares bz with ref by the hex of every column. A value written short is
// padded back with 0x00 by BINARY(N) itself, so a lost tail shows where it matters: an UPDATE or
// DELETE whose WHERE carries the shortened key matches no row (binary comparison counts the
// trailing zeros), leaving a stale v/n or a row the reference no longer has.
func requireBytesEqual(t *testing.T, where string, db *sql.DB) {
	t.Helper()
	read := func(table string) map[string]string {
		rows, err := db.Query("SELECT HEX(id), HEX(v), n, LENGTH(id), LENGTH(v) FROM " + quoteIdent(table))
		require.NoError(t, err)
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var id, v string
			var n, li, lv int
			require.NoError(t, rows.Scan(&id, &v, &n, &li, &lv))
			require.Equal(t, 16, li, "%s %s: id length", where, table)
			require.Equal(t, 8, lv, "%s %s: v length", where, table)
			out[id] = v + "/" + hex.EncodeToString([]byte{byte(n), byte(n >> 8)})
		}
		require.NoError(t, rows.Err())
		return out
	}
	got, want := read("bz"), read("ref")
	require.Equal(t, len(want), len(got), "%s: row count", where)
	var bad []string
	for id, v := range want {
		if got[id] != v {
			bad = append(bad, id+": want "+v+", got "+got[id])
		}
	}
	require.Empty(t, bad, "%s: rows that differ from the reference", where)
}
