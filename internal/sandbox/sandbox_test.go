package sandbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ghostgate/ghostgate/internal/sandbox"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// The pair replicates with ROW binlogs and a full row image: what gh-ost needs.
func TestSandboxReplicates(t *testing.T) {
	d := sandboxtest.New(t)
	d.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))", "INSERT INTO t VALUES (1, 'a'), (2, 'b')")
	d.WaitReplica(t)
	var n int
	if err := d.Replica.QueryRow("SELECT COUNT(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("replica has %d rows, want 2", n)
	}
	for _, db := range []struct {
		name string
		q    string
		want string
	}{
		{"binlog_format", "SELECT @@binlog_format", "ROW"},
		{"binlog_row_image", "SELECT @@binlog_row_image", "FULL"},
		{"log_slave_updates", "SELECT @@log_slave_updates", "1"},
	} {
		var got string
		if err := d.Replica.QueryRow(db.q).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != db.want {
			t.Errorf("replica %s = %q, want %q", db.name, got, db.want)
		}
	}
}

// A pair that was down for longer than the binlog expiry comes back replicating, with its data.
// Servers purge expired binlogs when they start; with the expiry set at startup the primary threw
// away the binlog its replica had stopped in, and `up` failed on every later run (error 1236:
// the CI of 2026-12-02). The test ages the binlogs as an hour's downtime would (a purge goes by
// the files' modification times) and restarts the pair.
func TestSandboxResumesAfterLongDowntime(t *testing.T) {
	dir, env := ownPair(t)
	exec(t, env.Primary, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)", "INSERT INTO d.t VALUES (1)")
	if err := sandboxtest.WaitReplica(env); err != nil {
		t.Fatal(err)
	}
	if err := sandbox.Down(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	old := ageBinlogs(t, filepath.Join(dir, "primary", "data"))
	env = up(t, dir, env.Primary.Port)

	// The expiry is on once the pair runs: the next rotation purges the aged binlogs, and the
	// replica, reading the current one, goes on.
	exec(t, env.Primary, "INSERT INTO d.t VALUES (2)", "FLUSH BINARY LOGS", "INSERT INTO d.t VALUES (3)")
	if err := sandboxtest.WaitReplica(env); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, env.Replica); got != "1,2,3" {
		t.Errorf("replica has rows %s, want 1,2,3 (the data from before the downtime kept)", got)
	}
	for _, f := range old {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("aged binlog %s still there after a rotation (stat: %v): the expiry is off", filepath.Base(f), err)
		}
	}
}

// A pair whose replica can never resume (its primary purged what the replica had not read) is
// rebuilt by `up`, which says so, instead of failing on every run until someone deletes it.
func TestSandboxRebuildsAReplicaThatCannotResume(t *testing.T) {
	dir, env := ownPair(t)
	exec(t, env.Replica, "STOP SLAVE")
	exec(t, env.Primary, "CREATE DATABASE lost", "FLUSH BINARY LOGS")
	var last string
	var pos int64
	if err := open(t, env.Primary).QueryRow("SHOW MASTER STATUS").Scan(&last, &pos, new(string), new(string)); err != nil {
		t.Fatal(err)
	}
	// A binlog a dump thread still reads is not purged: wait until the primary has noticed that
	// its replica went away.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var dumps int
		if err := open(t, env.Primary).QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%'").Scan(&dumps); err != nil {
			t.Fatal(err)
		}
		if dumps == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the primary still has a binlog dump thread 30s after STOP SLAVE")
		}
	}
	// Nor is one that InnoDB's binlog checkpoint still names, for a moment after the rotation.
	for deadline := time.Now().Add(30 * time.Second); firstBinlog(t, env.Primary) != last; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("PURGE BINARY LOGS TO %q keeps %q for 30s", last, firstBinlog(t, env.Primary))
		}
		exec(t, env.Primary, "PURGE BINARY LOGS TO '"+last+"'")
	}
	exec(t, env.Replica, "START SLAVE")

	env = up(t, dir, env.Primary.Port)
	exec(t, env.Primary, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)", "INSERT INTO d.t VALUES (7)")
	if err := sandboxtest.WaitReplica(env); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, env.Replica); got != "7" {
		t.Errorf("replica has rows %s, want 7", got)
	}
	var n int
	if err := open(t, env.Primary).QueryRow("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'lost'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("the primary still has the database from before: the pair was not rebuilt")
	}
}

// ownPair starts a pair of the test's own (free ports, a fresh directory), destroyed at the end.
func ownPair(t *testing.T) (string, sandbox.Env) {
	t.Helper()
	port, err := sandbox.FreePortPair()
	if err != nil {
		t.Fatal(err)
	}
	// Beside the default pair's directory, as sandboxtest.Isolated's: a socket path under a long
	// $TMPDIR could pass the 107 bytes a Unix socket's name may have.
	dir := fmt.Sprintf("%s-own-%d-%d", sandbox.Dir(), os.Getpid(), port)
	t.Cleanup(func() {
		if err := sandbox.Destroy(context.Background(), dir); err != nil {
			t.Error(err)
		}
	})
	return dir, up(t, dir, port)
}

func up(t *testing.T, dir string, port int) sandbox.Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env, err := sandbox.UpAt(ctx, dir, port)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func open(t *testing.T, s sandbox.Server) *sql.DB {
	t.Helper()
	return sandboxtest.Open(t, s.DSN(""))
}

func exec(t *testing.T, s sandbox.Server, stmts ...string) {
	t.Helper()
	db := open(t, s)
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func ids(t *testing.T, s sandbox.Server) string {
	t.Helper()
	var got sql.NullString
	if err := open(t, s).QueryRow("SELECT GROUP_CONCAT(id ORDER BY id) FROM d.t").Scan(&got); err != nil {
		t.Fatal(err)
	}
	return got.String
}

func firstBinlog(t *testing.T, s sandbox.Server) string {
	t.Helper()
	rows, err := open(t, s).Query("SHOW BINARY LOGS")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var first string
	if rows.Next() {
		if err := rows.Scan(&first, new(int64)); err != nil {
			t.Fatal(err)
		}
	}
	return first
}

// ageBinlogs sets the binlogs in dir two hours back and returns their paths.
func ageBinlogs(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "binlog.[0-9]*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no binlogs in %s (%v)", dir, err)
	}
	past := time.Now().Add(-2 * time.Hour)
	for _, f := range files {
		if err := os.Chtimes(f, past, past); err != nil {
			t.Fatal(err)
		}
	}
	return files
}
