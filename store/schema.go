package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"
)

// SchemaVersionError means the state schema was written by a newer ghostgate than this one: an
// older binary must not write tables whose meaning it does not know.
type SchemaVersionError struct {
	Database string
	Have     int // version found in the database
	Known    int // newest version this binary knows
}

// Error implements error.
func (e *SchemaVersionError) Error() string {
	return fmt.Sprintf("store: schema %s is at version %d, newer than this ghostgate knows (%d): upgrade ghostgate",
		quoteIdent(e.Database), e.Have, e.Known)
}

// schemaStep is one ordered upgrade of the state schema. Each must be idempotent on its own
// (IF NOT EXISTS, or a look at information_schema) because DDL commits implicitly in MySQL: a
// crash between a step's DDL and the row recording its version must not wedge the next Open.
type schemaStep struct {
	name  string
	apply func(ctx context.Context, c *sql.Conn, s *Store) error
}

// schemaSteps is append-only: version N is schemaSteps[N-1]. Never edit a released step.
var schemaSteps = []schemaStep{
	{name: "migrations and events", apply: stepCoreTables},
	{name: "owner and heartbeat", apply: stepOwner},
	{name: "leases with fencing tokens", apply: stepLeases},
	{name: "commands for the owner", apply: stepCommands},
	{name: "queue: cluster and request", apply: stepQueue},
	{name: "participants shared by the fleet", apply: stepParticipants},
}

// stepCoreTables creates the migrations and events tables.
//
// One active migration per table is a UNIQUE key over (schema_name, table_name, active) where
// active is 1 while the migration holds its table and NULL once it ends: a unique index admits any
// number of NULLs, so ended migrations never collide, while a second active row for the same table
// is refused by the server itself, even from another process. Names are utf8mb4_bin because table
// names are case-sensitive on Linux (lower_case_table_names=0).
func stepCoreTables(ctx context.Context, c *sql.Conn, s *Store) error {
	stmts := []string{
		"CREATE TABLE IF NOT EXISTS " + s.migrations + ` (
  id CHAR(26) CHARACTER SET ascii NOT NULL,
  schema_name VARCHAR(64) NOT NULL,
  table_name VARCHAR(64) NOT NULL,
  ddl MEDIUMTEXT NOT NULL,
  plan LONGTEXT NULL,
  strategy VARCHAR(32) NOT NULL,
  status VARCHAR(32) CHARACTER SET ascii NOT NULL,
  active TINYINT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  started_at DATETIME(6) NULL,
  finished_at DATETIME(6) NULL,
  progress TEXT NULL,
  error TEXT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY one_active_per_table (schema_name, table_name, active),
  KEY by_status (status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
		"CREATE TABLE IF NOT EXISTS " + s.events + ` (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  migration_id CHAR(26) CHARACTER SET ascii NOT NULL,
  at DATETIME(6) NOT NULL,
  kind VARCHAR(32) CHARACTER SET ascii NOT NULL,
  message TEXT NOT NULL,
  data TEXT NULL,
  PRIMARY KEY (id),
  KEY by_migration (migration_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	}
	for _, q := range stmts {
		if _, err := c.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// stepOwner records which controller process runs a migration and when it was last seen alive,
// so a restarted controller can tell a live run from a dead one.
func stepOwner(ctx context.Context, c *sql.Conn, s *Store) error {
	cols := []struct{ name, def string }{
		{"owner_host", "VARCHAR(255) NULL"},
		{"owner_pid", "INT NULL"},
		{"heartbeat_at", "DATETIME(6) NULL"},
	}
	for _, col := range cols {
		if err := addColumnIfMissing(ctx, c, s, col.name, col.def); err != nil {
			return err
		}
	}
	return nil
}

// stepLeases gives every migration a lease (see lease.go): its owner's id, a fencing token and an
// expiry. Rows written before it (by a ghostgate without leases) keep a NULL expiry and token 0:
// they count as stale by their heartbeat's age, as before, and their first claim gives token 1.
func stepLeases(ctx context.Context, c *sql.Conn, s *Store) error {
	cols := []struct{ name, def string }{
		{"lease_owner", "VARCHAR(255) NULL"},
		{"lease_token", "BIGINT NOT NULL DEFAULT 0"},
		{"lease_expires_at", "DATETIME(6) NULL"},
	}
	for _, col := range cols {
		if err := addColumnIfMissing(ctx, c, s, col.name, col.def); err != nil {
			return err
		}
	}
	return nil
}

// addColumnIfMissing is ALTER TABLE ADD COLUMN made idempotent portably: MariaDB has ADD COLUMN
// IF NOT EXISTS but MySQL 8 does not, so look at information_schema first (we hold the upgrade
// lock, so nobody adds it between the look and the ALTER).
func addColumnIfMissing(ctx context.Context, c *sql.Conn, s *Store, name, def string) error {
	var n int
	err := c.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'migrations' AND COLUMN_NAME = ?`, s.opts.Database, name).Scan(&n)
	if err != nil || n > 0 {
		return err
	}
	_, err = c.ExecContext(ctx, "ALTER TABLE "+s.migrations+" ADD COLUMN "+quoteIdent(name)+" "+def)
	return err
}

// SchemaVersion returns the version of the state schema in the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, "SELECT MAX(version) FROM "+s.versions).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	return int(v.Int64), nil
}

// upgrade brings the schema to version target under a named lock. GET_LOCK is used rather than a
// transaction because DDL commits implicitly; the lock is per connection, so one *sql.Conn holds
// it for the whole upgrade.
func (s *Store) upgrade(ctx context.Context, target int) error {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: connect: %w", err)
	}
	defer c.Close()
	release, err := s.lockSchema(ctx, c)
	if err != nil {
		return err
	}
	defer release()

	bootstrap := []string{
		"CREATE DATABASE IF NOT EXISTS " + quoteIdent(s.opts.Database) + " DEFAULT CHARACTER SET utf8mb4",
		"CREATE TABLE IF NOT EXISTS " + s.versions + ` (
  version INT NOT NULL PRIMARY KEY,
  name VARCHAR(128) NOT NULL,
  applied_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	}
	for _, q := range bootstrap {
		if _, err := c.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("store: create state schema %s: %w", quoteIdent(s.opts.Database), err)
		}
	}
	var have sql.NullInt64
	if err := c.QueryRowContext(ctx, "SELECT MAX(version) FROM "+s.versions).Scan(&have); err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if int(have.Int64) > len(schemaSteps) {
		return &SchemaVersionError{Database: s.opts.Database, Have: int(have.Int64), Known: len(schemaSteps)}
	}
	for v := int(have.Int64) + 1; v <= target; v++ {
		step := schemaSteps[v-1]
		if err := step.apply(ctx, c, s); err != nil {
			return fmt.Errorf("store: schema upgrade to version %d (%s): %w", v, step.name, err)
		}
		if _, err := c.ExecContext(ctx, "INSERT IGNORE INTO "+s.versions+
			" (version, name, applied_at) VALUES (?, ?, UTC_TIMESTAMP(6))", v, step.name); err != nil {
			return fmt.Errorf("store: record schema version %d: %w", v, err)
		}
	}
	return nil
}

// lockSchema takes the per-database upgrade lock on c. Lock names are limited to 64 characters,
// so a database name is hashed into it.
func (s *Store) lockSchema(ctx context.Context, c *sql.Conn) (func(), error) {
	sum := sha256.Sum256([]byte(s.opts.Database))
	name := "ghostgate_schema_" + hex.EncodeToString(sum[:])[:40]
	var got sql.NullInt64
	secs := int(s.opts.LockTimeout / time.Second)
	if err := c.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", name, secs).Scan(&got); err != nil {
		return nil, fmt.Errorf("store: take schema lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return nil, fmt.Errorf("store: schema lock %s still held by another process after %v", name, s.opts.LockTimeout)
	}
	return func() {
		// Released on the same connection; closing it would release it too.
		_, _ = c.ExecContext(context.Background(), "DO RELEASE_LOCK(?)", name)
	}, nil
}
