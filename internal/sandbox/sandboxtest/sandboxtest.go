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
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the MySQL driver used throughout.
	"go.uber.org/goleak"

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
	isoMu     sync.Mutex
	isoEnvs   = map[string]sandbox.Env{}
	isoMain   atomic.Bool
	isoReaped atomic.Bool
)

// Main runs a package's tests (with goleak's checks and opts) and then destroys every isolated
// pair they started, so that `go test` leaves no server running. A package that calls Isolated
// must call Main from its TestMain; Isolated fails the test otherwise.
func Main(m *testing.M, opts ...goleak.Option) {
	isoMain.Store(true)
	opts = append(opts, goleak.Cleanup(func(code int) {
		if err := StopIsolated(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
		os.Exit(code)
	}))
	goleak.VerifyTestMain(m, opts...)
}

// Isolated starts (once per process) a separate pair named name, for tests that stop
// replication or otherwise disturb the servers. Its ports come from the kernel (never a fixed
// port another suite might hold) and its data lives in a fresh directory beside the default
// sandbox's; Main destroys both when the package's tests end.
func Isolated(t testing.TB, name string) sandbox.Env {
	t.Helper()
	return IsolatedWith(t, name)
}

// WithoutPerformanceSchema is a setting for IsolatedWith: the pair runs with
// performance_schema=OFF, as many production servers do.
const WithoutPerformanceSchema = "GG_SANDBOX_PERFORMANCE_SCHEMA=OFF"

// IsolatedWith is Isolated with settings of scripts/sandbox.sh (see WithoutPerformanceSchema).
// The name identifies the pair: use a different name for different settings.
func IsolatedWith(t testing.TB, name string, settings ...string) sandbox.Env {
	t.Helper()
	if !isoMain.Load() {
		t.Fatalf("sandboxtest.Isolated(%q) needs sandboxtest.Main in the package's TestMain (it stops the pair)", name)
	}
	isoMu.Lock()
	defer isoMu.Unlock()
	if isoReaped.Load() {
		t.Fatalf("isolated sandbox %s requested after the pairs were stopped", name)
	}
	if env, ok := isoEnvs[name]; ok {
		return env
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var env sandbox.Env
	var err error
	// A port the kernel called free can be taken before mariadbd binds it (an outgoing
	// connection picks from the same range): try a few pairs.
	for attempt := 0; attempt < 3; attempt++ {
		var port int
		if port, err = sandbox.FreePortPair(); err != nil {
			break
		}
		dir := fmt.Sprintf("%s-iso-%s-%d-%d", sandbox.Dir(), name, os.Getpid(), port)
		if env, err = sandbox.UpAt(ctx, dir, port, settings...); err == nil {
			break
		}
		_ = sandbox.Destroy(context.Background(), dir)
	}
	if err != nil {
		t.Fatalf("isolated sandbox %s unavailable: %v", name, err)
	}
	isoEnvs[name] = env
	return env
}

// StopIsolated stops and deletes every isolated pair of this process.
func StopIsolated() error {
	isoMu.Lock()
	defer isoMu.Unlock()
	isoReaped.Store(true)
	var errs []error
	for name, env := range isoEnvs {
		if err := sandbox.Destroy(context.Background(), env.Dir); err != nil {
			errs = append(errs, fmt.Errorf("isolated sandbox %s: %w", name, err))
		}
		delete(isoEnvs, name)
	}
	return errors.Join(errs...)
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

// Triggers lists the names of the triggers on table in the test's database, sorted.
func (d *DB) Triggers(t testing.TB, table string) []string {
	t.Helper()
	rows, err := d.Primary.Query(`SELECT TRIGGER_NAME FROM information_schema.TRIGGERS
		WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ? ORDER BY 1`, d.Name, table)
	if err != nil {
		t.Fatalf("list triggers: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatalf("list triggers: %v", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("list triggers: %v", err)
	}
	return out
}
