package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// newStore opens a store whose state lives in the test's own database, so tests run in parallel.
func newStore(t *testing.T, opts Options) (*Store, *sandboxtest.DB) {
	t.Helper()
	d := sandboxtest.New(t)
	return openOn(t, d, opts), d
}

// openOn opens another store (another "controller") on the same state database as d.
func openOn(t *testing.T, d *sandboxtest.DB, opts Options) *Store {
	t.Helper()
	if opts.Database == "" {
		opts.Database = d.Name
	}
	s, err := Open(t.Context(), d.Primary, opts)
	require.NoError(t, err)
	return s
}

func sample(table string) NewMigration {
	return NewMigration{Schema: "app", Table: table, DDL: "ALTER TABLE " + table + " ADD COLUMN c INT",
		Plan: []byte(`{"strategy":"ghost"}`), Strategy: "ghost"}
}

func versionRows(t *testing.T, db *sql.DB, database string) []int {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "SELECT version FROM "+qualify(database, "schema_version")+" ORDER BY version")
	require.NoError(t, err)
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		out = append(out, v)
	}
	require.NoError(t, rows.Err())
	return out
}

func allVersions() []int {
	var out []int
	for i := range schemaSteps {
		out = append(out, i+1)
	}
	return out
}

func TestOpenTwiceIsIdempotent(t *testing.T) {
	t.Parallel()
	s, d := newStore(t, Options{})
	s2 := openOn(t, d, Options{})
	v, err := s2.SchemaVersion(t.Context())
	require.NoError(t, err)
	assert.Equal(t, len(schemaSteps), v)
	assert.Equal(t, allVersions(), versionRows(t, d.Primary, s.Database()), "each version recorded once")
}

func TestOpenConcurrentlyCreatesSchemaOnce(t *testing.T) {
	t.Parallel()
	d := sandboxtest.New(t)
	// A database that does not exist yet, so the racing Opens also race on CREATE DATABASE.
	name := d.Name + "_state"
	t.Cleanup(func() {
		_, _ = d.Primary.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+quoteIdent(name))
	})

	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Open(t.Context(), d.Primary, Options{Database: name})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "open #%d", i)
	}
	assert.Equal(t, allVersions(), versionRows(t, d.Primary, name))
}

func TestUpgradeFromOlderVersionKeepsData(t *testing.T) {
	t.Parallel()
	d := sandboxtest.New(t)
	old, err := openAt(t.Context(), d.Primary, Options{Database: d.Name}, 1)
	require.NoError(t, err)
	require.Equal(t, []int{1}, versionRows(t, d.Primary, d.Name))

	// A row as a version-1 controller wrote it: no owner columns yet.
	id, err := newID(time.Now())
	require.NoError(t, err)
	_, err = d.Primary.ExecContext(t.Context(), "INSERT INTO "+old.migrations+` (id, schema_name, table_name, ddl,
		strategy, status, active, created_at, updated_at) VALUES (?, 'app', 'users', 'ALTER TABLE users ADD x INT',
		'inplace', 'running', 1, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))`, id)
	require.NoError(t, err)

	s := openOn(t, d, Options{})
	assert.Equal(t, allVersions(), versionRows(t, d.Primary, d.Name))
	m, err := s.Get(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, "users", m.Table)
	assert.Equal(t, Owner{}, m.Owner, "rows from before owners existed have none")
	assert.True(t, m.HeartbeatAt.IsZero())

	// The upgraded schema is fully usable: the old row still holds its table.
	_, err = s.Create(t.Context(), NewMigration{Schema: "app", Table: "users", DDL: "ALTER TABLE users ADD y INT", Strategy: "instant"})
	var active *ActiveMigrationError
	require.ErrorAs(t, err, &active)
	assert.Equal(t, id, active.ID)
}

func TestNewerSchemaIsRefused(t *testing.T) {
	t.Parallel()
	s, d := newStore(t, Options{})
	_, err := d.Primary.ExecContext(t.Context(), "INSERT INTO "+s.versions+" VALUES (?, 'from the future', UTC_TIMESTAMP(6))", len(schemaSteps)+1)
	require.NoError(t, err)
	_, err = Open(t.Context(), d.Primary, Options{Database: d.Name})
	var ve *SchemaVersionError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, len(schemaSteps)+1, ve.Have)
	assert.Equal(t, len(schemaSteps), ve.Known)
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"zero value uses defaults", Options{}, true},
		{"long database name", Options{Database: fmt.Sprintf("%065d", 0)}, false},
		{"owner without pid", Options{Owner: Owner{Host: "h"}}, false},
		{"negative stale", Options{StaleAfter: -1}, false},
		{"sub-second lock timeout", Options{LockTimeout: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}
