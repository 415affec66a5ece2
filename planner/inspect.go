package planner

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
)

const erNoSuchTable = 1146

// loadTable reads the table's definition with SHOW CREATE TABLE and models it with the same lexer
// and parser that read the DDL, so both sides agree on names and types.
func loadTable(ctx context.Context, db *sql.DB, srv Server, schema, name string) (*table, error) {
	got, create, err := showCreate(ctx, db, schema, name)
	if err != nil {
		return nil, err
	}
	lx, err := lexSQL(create, srv, false)
	if err != nil || len(lx.stmts) != 1 {
		return nil, fmt.Errorf("planner: cannot read SHOW CREATE TABLE of %s: %w", qualified(schema, name), cmpOr(err, error(ErrParse)))
	}
	t, err := modelCreate(&sqlParser{}, lx.stmts[0], schema)
	if err != nil {
		return nil, fmt.Errorf("planner: cannot model %s from SHOW CREATE TABLE: %w", qualified(schema, name), err)
	}
	t.schema, t.name = schema, got
	return t, nil
}

// showCreate is the table's name as stored and its CREATE TABLE. A view answers SHOW CREATE
// TABLE too, with four columns (View, Create View, character_set_client, collation_connection):
// telling it apart by the answer costs no extra round trip on the instant path.
func showCreate(ctx context.Context, db *sql.DB, schema, name string) (string, string, error) {
	rows, err := db.QueryContext(ctx, "SHOW CREATE TABLE "+quoteTable(schema, name))
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == erNoSuchTable {
		return "", "", &UnknownTableError{Schema: schema, Table: name}
	}
	if err != nil {
		return "", "", fmt.Errorf("planner: show create table %s: %w", qualified(schema, name), err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", "", fmt.Errorf("planner: show create table %s: %w", qualified(schema, name), err)
	}
	if len(cols) != 2 || !strings.EqualFold(cols[1], "Create Table") {
		return "", "", fmt.Errorf("planner: %s is a view, not a base table: %w", qualified(schema, name), ErrNotSchemaChange)
	}
	var got, create string
	if !rows.Next() {
		return "", "", fmt.Errorf("planner: show create table %s: no answer: %w", qualified(schema, name), cmpOr(rows.Err(), sql.ErrNoRows))
	}
	if err := rows.Scan(&got, &create); err != nil {
		return "", "", fmt.Errorf("planner: show create table %s: %w", qualified(schema, name), err)
	}
	return got, create, rows.Err()
}

// gatherFacts asks the server what the definition does not say: size, triggers, foreign keys in
// both directions, duplicates under new unique keys and rows that would not fit narrowed columns.
func gatherFacts(ctx context.Context, db *sql.DB, t *table, an analysis) (facts, error) {
	f := facts{connected: true, duplicates: map[string]int64{}, misfits: map[string]int64{}}
	var err error
	if f.size, err = tableSize(ctx, db, t); err != nil {
		return f, err
	}
	if f.schemaTriggers, err = schemaTriggers(ctx, db, t.schema); err != nil {
		return f, err
	}
	if f.triggers, err = triggers(ctx, db, t); err != nil {
		return f, err
	}
	if f.fks, err = foreignKeys(ctx, db, t); err != nil {
		return f, err
	}
	for _, u := range an.uniques {
		if len(u.cols) == 0 {
			continue
		}
		n, err := countDuplicates(ctx, db, t, u)
		if err != nil {
			return f, err
		}
		f.duplicates[u.name] = n
	}
	for _, c := range an.changes {
		if err := countMisfits(ctx, db, t, c, f.misfits); err != nil {
			return f, err
		}
	}
	return f, nil
}

func tableSize(ctx context.Context, db *sql.DB, t *table) (*Size, error) {
	var s Size
	var rows, data, idx sql.NullInt64
	err := db.QueryRowContext(ctx, `SELECT TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, t.schema, t.name).Scan(&rows, &data, &idx)
	if err != nil {
		return nil, fmt.Errorf("planner: size of %s: %w", qualified(t.schema, t.name), err)
	}
	s.Rows, s.DataBytes, s.IndexBytes = rows.Int64, data.Int64, idx.Int64
	return &s, nil
}

func triggers(ctx context.Context, db *sql.DB, t *table) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT TRIGGER_NAME FROM information_schema.TRIGGERS
		WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ? ORDER BY TRIGGER_NAME`, t.schema, t.name)
	if err != nil {
		return nil, fmt.Errorf("planner: triggers of %s: %w", qualified(t.schema, t.name), err)
	}
	return triggerNames(rows)
}

// schemaTriggers lists every trigger of schema.
func schemaTriggers(ctx context.Context, db *sql.DB, schema string) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT TRIGGER_NAME FROM information_schema.TRIGGERS
		WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME`, schema)
	if err != nil {
		return nil, fmt.Errorf("planner: triggers of %s: %w", quoteIdent(schema), err)
	}
	return triggerNames(rows)
}

func triggerNames(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// foreignKeys lists constraints on the table (child) and constraints of other tables pointing at it
// (parent): gh-ost supports neither.
func foreignKeys(ctx context.Context, db *sql.DB, t *table) ([]foreignKey, error) {
	rows, err := db.QueryContext(ctx, `SELECT CONSTRAINT_NAME, CONSTRAINT_SCHEMA, TABLE_NAME, UNIQUE_CONSTRAINT_SCHEMA, REFERENCED_TABLE_NAME
		FROM information_schema.REFERENTIAL_CONSTRAINTS
		WHERE (CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?) OR (UNIQUE_CONSTRAINT_SCHEMA = ? AND REFERENCED_TABLE_NAME = ?)
		ORDER BY CONSTRAINT_SCHEMA, CONSTRAINT_NAME`, t.schema, t.name, t.schema, t.name)
	if err != nil {
		return nil, fmt.Errorf("planner: foreign keys of %s: %w", qualified(t.schema, t.name), err)
	}
	defer rows.Close()
	var out []foreignKey
	for rows.Next() {
		var fk foreignKey
		if err := rows.Scan(&fk.name, &fk.schema, &fk.table, &fk.refSchema, &fk.refTable); err != nil {
			return nil, err
		}
		out = append(out, fk)
	}
	return out, rows.Err()
}

// countDuplicates counts the rows a new unique key would reject: per group of equal key values
// (NULLs excluded: a UNIQUE key admits many), every row beyond the first.
func countDuplicates(ctx context.Context, db *sql.DB, t *table, u uniqueAdd) (int64, error) {
	var keys, notNull []string
	var args []any
	for i, c := range u.cols {
		col := quoteIdent(c)
		if u.prefix[i] > 0 {
			keys = append(keys, "LEFT("+col+", ?)")
			args = append(args, u.prefix[i])
		} else {
			keys = append(keys, col)
		}
		notNull = append(notNull, col+" IS NOT NULL")
	}
	q := "SELECT COALESCE(SUM(n - 1), 0) FROM (SELECT COUNT(*) AS n FROM " + quoteTable(t.schema, t.name) +
		" WHERE " + strings.Join(notNull, " AND ") + " GROUP BY " + strings.Join(keys, ", ") + " HAVING COUNT(*) > 1) AS d"
	var n int64
	if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("planner: count duplicates for %s on %s: %w", u.name, qualified(t.schema, t.name), err)
	}
	return n, nil
}

// countMisfits counts rows of a changed column that would not fit: out of range or too long for a
// narrowed type, NULL for a column becoming NOT NULL. Nothing is recorded when neither applies or
// the narrowing cannot be expressed in SQL.
func countMisfits(ctx context.Context, db *sql.DB, t *table, c columnChange, into map[string]int64) error {
	var conds []string
	var args []any
	if n, ok := narrows(c); ok {
		if n.cond == "" {
			return nil
		}
		conds, args = append(conds, "("+n.cond+")"), n.args
	}
	if c.before.nullable && !c.after.nullable {
		conds = append(conds, quoteIdent(c.before.name)+" IS NULL")
	}
	if len(conds) == 0 {
		return nil
	}
	q := "SELECT COUNT(*) FROM " + quoteTable(t.schema, t.name) + " WHERE " + strings.Join(conds, " OR ")
	var n int64
	if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return fmt.Errorf("planner: check data of %s.%s: %w", qualified(t.schema, t.name), c.before.name, err)
	}
	into[c.before.name] = n
	return nil
}
