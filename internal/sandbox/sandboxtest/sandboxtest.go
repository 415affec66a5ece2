// Package sandboxtest gives each test its own database on the sandbox primary (replicated to the
// replica), dropped when the test ends. A sandbox that cannot start fails the test: a skipped
// integration test must never count as a pass.
package sandboxtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the MySQL driver used throughout.

	"github.com/ghostgate/ghostgate/internal/sandbox"
)

var (
	upOnce sync.Once
	upEnv  sandbox.Env
	upErr  error
)

// Env starts the sandbox once per test process and returns it.
func Env(t testing.TB) sandbox.Env {
	t.Helper()
	upOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		upEnv, upErr = sandbox.Up(ctx)
	})
	if upErr != nil {
		t.Fatalf("sandbox unavailable: %v", upErr)
	}
	return upEnv
}

var (
	isoMu   sync.Mutex
	isoEnvs = map[string]sandbox.Env{}
)

// Isolated starts (once per process) a separate pair named name, with its primary on port and
// its replica on port+1, for tests that stop replication or otherwise disturb the servers. Its
// data lives beside the default sandbox's.
func Isolated(t testing.TB, name string, port int) sandbox.Env {
	t.Helper()
	isoMu.Lock()
	defer isoMu.Unlock()
	if env, ok := isoEnvs[name]; ok {
		return env
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	env, err := sandbox.UpAt(ctx, sandbox.Dir()+"-"+name, port)
	if err != nil {
		t.Fatalf("isolated sandbox %s unavailable: %v", name, err)
	}
	isoEnvs[name] = env
	return env
}

// DB is a private database on the sandbox.
type DB struct {
	Env     sandbox.Env
	Name    string  // the database (schema) name
	Primary *sql.DB // connected to Name on the primary
	Replica *sql.DB // connected to Name on the replica
}

var unsafe = regexp.MustCompile(`[^a-z0-9_]+`)

// New creates a database named after the test with a random suffix, waits until the replica has
// it, and drops it (on the primary, so the drop replicates) when the test ends.
func New(t testing.TB) *DB {
	t.Helper()
	return NewOn(t, Env(t))
}

// NewOn is New on a given pair (see Isolated).
func NewOn(t testing.TB, env sandbox.Env) *DB {
	t.Helper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	base := unsafe.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(base) > 40 {
		base = base[:40]
	}
	name := fmt.Sprintf("t_%s_%s", base, hex.EncodeToString(suffix))

	admin := Open(t, env.Primary.DSN(""))
	if _, err := admin.Exec("CREATE DATABASE `" + name + "`"); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS `" + name + "`"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	d := &DB{Env: env, Name: name, Primary: Open(t, env.Primary.DSN(name))}
	d.WaitReplica(t)
	d.Replica = Open(t, env.Replica.DSN(name))
	return d
}

// Open opens a pool that is closed when the test ends.
func Open(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatalf("ping %s: %v", dsn, err)
	}
	return db
}

// Exec runs statements on the primary, failing the test on the first error.
func (d *DB) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := d.Primary.Exec(s); err != nil {
			t.Fatalf("exec %q: %v", s, err)
		}
	}
}

// WaitReplica blocks until the replica has applied everything the primary had written when it
// was called (MASTER_POS_WAIT), or fails the test after a minute.
func (d *DB) WaitReplica(t testing.TB) {
	t.Helper()
	if err := WaitReplica(d.Env); err != nil {
		t.Fatal(err)
	}
}

// WaitReplica waits for the replica of env to catch up with the primary's current position.
func WaitReplica(env sandbox.Env) error {
	p, err := sql.Open("mysql", env.Primary.DSN(""))
	if err != nil {
		return err
	}
	defer p.Close()
	r, err := sql.Open("mysql", env.Replica.DSN(""))
	if err != nil {
		return err
	}
	defer r.Close()
	var file string
	var pos int64
	var ignore1, ignore2 sql.NullString
	if err := p.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &ignore1, &ignore2); err != nil {
		return fmt.Errorf("show master status: %w", err)
	}
	var res sql.NullInt64
	if err := r.QueryRow("SELECT MASTER_POS_WAIT(?, ?, 60)", file, pos).Scan(&res); err != nil {
		return fmt.Errorf("master_pos_wait: %w", err)
	}
	if !res.Valid || res.Int64 < 0 {
		return fmt.Errorf("replica did not reach %s:%d within 60s (result %v)", file, pos, res)
	}
	return nil
}

// ColumnType is the type of table.column in the test's database as information_schema shows it
// (e.g. "bigint(20)"), or "" when there is no such column.
func (d *DB) ColumnType(t testing.TB, table, column string) string {
	t.Helper()
	var typ string
	err := d.Primary.QueryRow(`SELECT COLUMN_TYPE FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?`, d.Name, table, column).Scan(&typ)
	if errors.Is(err, sql.ErrNoRows) {
		return ""
	}
	if err != nil {
		t.Fatalf("column type of %s.%s: %v", table, column, err)
	}
	return typ
}

// Tables lists the tables of the test's database, sorted.
func (d *DB) Tables(t testing.TB) []string {
	t.Helper()
	rows, err := d.Primary.Query(`SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1`, d.Name)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatalf("list tables: %v", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("list tables: %v", err)
	}
	return out
}
