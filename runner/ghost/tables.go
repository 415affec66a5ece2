package ghost

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"
)

// maxTableNameLen is MySQL's and MariaDB's identifier limit.
const maxTableNameLen = 64

// sentryComment is the comment gh-ost puts on the placeholder table it creates under the old
// table's name during an atomic cut-over (logic/applier.go atomicCutOverMagicHint).
const sentryComment = "ghost-cut-over-sentry"

// ghostTableName mirrors gh-ost's getSafeTableName: "_<table>_<suffix>", the table part cut so that
// the whole name fits in 64 bytes.
func ghostTableName(table, suffix string) string {
	name := "_" + table + "_" + suffix
	if extra := len(name) - maxTableNameLen; extra > 0 {
		return "_" + table[:len(table)-extra] + "_" + suffix
	}
	return name
}

// GhostTable is the name of the table gh-ost builds the new shape in.
func GhostTable(table string) string { return ghostTableName(table, "gho") }

// ChangelogTable is the name of gh-ost's heartbeat and state table.
func ChangelogTable(table string) string { return ghostTableName(table, "ghc") }

// quoteIdent escapes a MySQL identifier: backticks around it, inner backticks doubled.
func quoteIdent(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

func qualified(schema, table string) string { return quoteIdent(schema) + "." + quoteIdent(table) }

// LeftoverError means tables of an earlier gh-ost run on this table still exist. They belong to a
// run that died; ghostgate never drops them silently, a human decides (DropStatements says how).
type LeftoverError struct {
	Schema, Table string
	Tables        []string // the leftover _gho/_ghc tables
}

func (e *LeftoverError) Error() string {
	return fmt.Sprintf("ghost: %s.%s has leftovers of an earlier gh-ost run: %s; inspect them and drop them to continue",
		e.Schema, e.Table, strings.Join(e.Tables, ", "))
}

// DropStatements are the statements that remove the leftovers.
func (e *LeftoverError) DropStatements() []string {
	out := make([]string, 0, len(e.Tables))
	for _, t := range e.Tables {
		out = append(out, "DROP TABLE "+qualified(e.Schema, t))
	}
	return out
}

// tableExists reports whether schema.table exists (base tables and views alike).
func tableExists(ctx context.Context, db *sql.DB, schema, table string) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
		schema, table).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("ghost: look up %s.%s: %w", schema, table, err)
	}
	return n > 0, nil
}

// checkLeftovers returns a *LeftoverError when the ghost or changelog table already exists.
func checkLeftovers(ctx context.Context, db *sql.DB, schema, table string) error {
	var found []string
	for _, t := range []string{GhostTable(table), ChangelogTable(table)} {
		ok, err := tableExists(ctx, db, schema, t)
		if err != nil {
			return err
		}
		if ok {
			found = append(found, t)
		}
	}
	if len(found) > 0 {
		return &LeftoverError{Schema: schema, Table: table, Tables: found}
	}
	return nil
}

// showCreate returns SHOW CREATE TABLE's statement.
func showCreate(ctx context.Context, db *sql.DB, schema, table string) (string, error) {
	var name, stmt string
	if err := db.QueryRowContext(ctx, "SHOW CREATE TABLE "+qualified(schema, table)).Scan(&name, &stmt); err != nil {
		return "", fmt.Errorf("ghost: show create table %s.%s: %w", schema, table, err)
	}
	return stmt, nil
}

var autoIncrementOption = regexp.MustCompile(` AUTO_INCREMENT=\d+`)

// normalizeShape makes two SHOW CREATE TABLE outputs comparable: the table's own name is replaced
// (the clone has a private name) and the AUTO_INCREMENT counter, which is data, not shape, dropped.
func normalizeShape(stmt string) string {
	if i := strings.Index(stmt, " ("); i >= 0 && strings.HasPrefix(stmt, "CREATE TABLE ") {
		stmt = "CREATE TABLE `t`" + stmt[i:]
	}
	return autoIncrementOption.ReplaceAllString(stmt, "")
}

// cloneName is the private name of the empty clone used to learn the expected shape.
func cloneName(table, migrationID string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(migrationID))
	return fmt.Sprintf("_%s_ggs_%08x", table, h.Sum32())
}

// expectedShape applies the alter to an empty CREATE TABLE … LIKE clone and returns the clone's
// normalized SHOW CREATE TABLE: the shape the table must have after a successful cut-over. gh-ost
// builds its ghost table the same way (LIKE, then ALTER), so the two are directly comparable.
func expectedShape(ctx context.Context, db *sql.DB, s Spec) (shape string, err error) {
	clone := cloneName(s.Table, s.MigrationID)
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+qualified(s.Schema, clone)+" LIKE "+qualified(s.Schema, s.Table)); err != nil {
		return "", fmt.Errorf("ghost: create shape clone: %w", err)
	}
	defer func() {
		if _, derr := db.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+qualified(s.Schema, clone)); derr != nil && err == nil {
			err = fmt.Errorf("ghost: drop shape clone: %w", derr)
		}
	}()
	// The alter clause is DDL text by nature; the planner parsed it. The driver runs one statement.
	if _, err := db.ExecContext(ctx, "ALTER TABLE "+qualified(s.Schema, clone)+" "+s.Alter); err != nil {
		return "", fmt.Errorf("ghost: alter on an empty clone failed, gh-ost would fail the same way: %w", err)
	}
	stmt, err := showCreate(ctx, db, s.Schema, clone)
	if err != nil {
		return "", err
	}
	return normalizeShape(stmt), nil
}

// tableShape is the normalized SHOW CREATE TABLE of schema.table.
func tableShape(ctx context.Context, db *sql.DB, schema, table string) (string, error) {
	stmt, err := showCreate(ctx, db, schema, table)
	if err != nil {
		return "", err
	}
	return normalizeShape(stmt), nil
}

// ShapeMismatchError means the cut-over happened but the table does not have the expected shape.
type ShapeMismatchError struct {
	Expected, Actual string
}

func (e *ShapeMismatchError) Error() string {
	return fmt.Sprintf("ghost: table shape after cut-over differs from the expected shape:\nexpected: %s\nactual:   %s", e.Expected, e.Actual)
}

// cleanupTables drops what an aborted run of this migration left: the ghost and changelog tables
// and an atomic cut-over sentry it created (one not in before, the old tables that existed when the
// run started). The original table is never touched.
func cleanupTables(ctx context.Context, db *sql.DB, s Spec, before map[string]bool) error {
	olds, err := oldTables(ctx, db, s.Schema, s.Table)
	if err != nil {
		return err
	}
	drop := []string{GhostTable(s.Table), ChangelogTable(s.Table)}
	if !s.Revert {
		// A revert's checkpoint table is the forward migration's: kept, so a revert can be tried again.
		drop = append(drop, CheckpointTable(s.Table))
	}
	for _, o := range olds {
		if o.comment == sentryComment && !before[o.name] {
			drop = append(drop, o.name)
		}
	}
	var errs []error
	for _, t := range drop {
		if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+qualified(s.Schema, t)); err != nil {
			errs = append(errs, fmt.Errorf("ghost: drop %s.%s: %w", s.Schema, t, err))
		}
	}
	return errors.Join(errs...)
}

// oldTable is a table named like one of gh-ost's old-table names.
type oldTable struct {
	name, comment string
}

// oldTables lists the "_<table>_<timestamp>_del" and "_<table>_del" tables of schema.
func oldTables(ctx context.Context, db *sql.DB, schema, table string) ([]oldTable, error) {
	rows, err := db.QueryContext(ctx,
		"SELECT TABLE_NAME, TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", schema)
	if err != nil {
		return nil, fmt.Errorf("ghost: list tables of %s: %w", schema, err)
	}
	defer rows.Close()
	var out []oldTable
	for rows.Next() {
		var o oldTable
		if err := rows.Scan(&o.name, &o.comment); err != nil {
			return nil, fmt.Errorf("ghost: list tables of %s: %w", schema, err)
		}
		if isOldTableOf(o.name, table) {
			out = append(out, o)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ghost: list tables of %s: %w", schema, err)
	}
	return out, nil
}

var timestampDel = regexp.MustCompile(`^_\d{14}_del$`)

// isOldTableOf reports whether name is one of gh-ost's old-table names for table: "_<t>_del" or,
// with TimestampOldTable, "_<t>_<YYYYMMDDhhmmss>_del" (t possibly cut to fit 64 bytes).
func isOldTableOf(name, table string) bool {
	if name == ghostTableName(table, "del") {
		return true
	}
	pattern := ghostTableName(table, "00000000000000_del")
	if len(name) != len(pattern) {
		return false
	}
	prefixLen := len(pattern) - len("_00000000000000_del")
	return name[:prefixLen] == pattern[:prefixLen] && timestampDel.MatchString(name[prefixLen:])
}
