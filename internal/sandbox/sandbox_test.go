package sandbox_test

import (
	"testing"

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
