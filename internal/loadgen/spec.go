// Package loadgen drives a table with a concurrent writer that keeps its own model of the rows
// it expects, verifies a table against that model, and creates and seeds test tables fast.
//
// Integration tests run a Writer during a migration and, afterwards, Verify the table on the
// primary and on the replica: zero missing, extra or wrong rows. The benchmarks use the same
// Writer, untracked and at a fixed rate, as their foreground workload and read its latencies.
//
// Values are compared in the server's own canonical text form: every column is read as
// CONCAT(col) (a FLOAT widened to DOUBLE first, for all its digits), both when the writer reads a row back inside the transaction that wrote it and when
// Verify reads the table. So a FLOAT, a TIMESTAMP(6) in the session time zone, a CHAR with its
// trailing spaces stripped or a BINARY padded with zero bytes compare as the server stored them,
// never as the client meant them, and no false diff arises from rounding or formatting.
package loadgen

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
)

// Gen makes one value for a column; nil means SQL NULL. Generators run on one worker's private
// random source, so they need no locking.
type Gen func(r *rand.Rand) any

// KeyColumn is one column of the primary key. Keys are made from a sequence number n so that
// inserts never collide and seeding with SQL can make the same keys.
type KeyColumn struct {
	Name string
	Type string            // column type in CREATE TABLE, e.g. "BIGINT UNSIGNED NOT NULL"
	Of   func(n int64) any // the value of this column for sequence number n (jointly injective)
	Seed string            // trusted SQL expression over `seq` giving the same value as Of
}

// Column is one non-key column the writer knows and writes.
type Column struct {
	Name string
	Type string // column type in CREATE TABLE, e.g. "VARCHAR(64) NULL"
	Gen  Gen
	Seed string // trusted SQL expression over `seq` used by Seed; empty: the column's default
}

// Spec describes a table: its primary key and the columns the writer knows. The table may have
// other columns (added by a migration, say); the writer leaves them to their defaults and the
// verifier ignores them.
type Spec struct {
	Table   string
	Key     []KeyColumn
	Columns []Column
	// Options is appended to CREATE TABLE, e.g. "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4".
	Options string
}

// ErrInvalidSpec is wrapped by every error of Spec.Validate and Config.Validate.
var ErrInvalidSpec = errors.New("loadgen: invalid spec")

// Validate checks that the spec is usable by the writer and the verifier.
func (s Spec) Validate() error {
	if s.Table == "" {
		return fmt.Errorf("%w: no table name", ErrInvalidSpec)
	}
	if len(s.Key) == 0 {
		return fmt.Errorf("%w: table %s has no primary key column", ErrInvalidSpec, s.Table)
	}
	seen := map[string]bool{}
	for _, k := range s.Key {
		if k.Name == "" || k.Type == "" || k.Of == nil {
			return fmt.Errorf("%w: key column %q needs a name, a type and Of", ErrInvalidSpec, k.Name)
		}
		if seen[strings.ToLower(k.Name)] {
			return fmt.Errorf("%w: duplicate column %q", ErrInvalidSpec, k.Name)
		}
		seen[strings.ToLower(k.Name)] = true
	}
	for _, c := range s.Columns {
		if c.Name == "" || c.Type == "" || c.Gen == nil {
			return fmt.Errorf("%w: column %q needs a name, a type and a generator", ErrInvalidSpec, c.Name)
		}
		if seen[strings.ToLower(c.Name)] {
			return fmt.Errorf("%w: duplicate column %q", ErrInvalidSpec, c.Name)
		}
		seen[strings.ToLower(c.Name)] = true
	}
	return nil
}

// Names lists the key columns, then the other columns, in the order rows hold them.
func (s Spec) Names() []string {
	names := make([]string, 0, len(s.Key)+len(s.Columns))
	for _, k := range s.Key {
		names = append(names, k.Name)
	}
	for _, c := range s.Columns {
		names = append(names, c.Name)
	}
	return names
}

// KeyOf returns the key values for sequence number n.
func (s Spec) KeyOf(n int64) []any {
	vals := make([]any, len(s.Key))
	for i, k := range s.Key {
		vals[i] = k.Of(n)
	}
	return vals
}

// CreateSQL is the CREATE TABLE statement for the spec.
func (s Spec) CreateSQL() string {
	var b strings.Builder
	b.WriteString("CREATE TABLE " + Quote(s.Table) + " (")
	keys := make([]string, len(s.Key))
	for i, k := range s.Key {
		b.WriteString(Quote(k.Name) + " " + k.Type + ", ")
		keys[i] = Quote(k.Name)
	}
	for _, c := range s.Columns {
		b.WriteString(Quote(c.Name) + " " + c.Type + ", ")
	}
	b.WriteString("PRIMARY KEY (" + strings.Join(keys, ", ") + "))")
	if s.Options != "" {
		b.WriteString(" " + s.Options)
	}
	return b.String()
}

// Quote escapes an SQL identifier: backticks around it, inner backticks doubled.
func Quote(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// canonicalList is the select list that reads every known column in its canonical form, given
// each column's DATA_TYPE (see columnTypes). CONCAT(x) with one argument returns x as the server
// formats it as text (NULL stays NULL), and a string result travels the same way over the text
// and the binary protocol, so the read-back inside a write (prepared, binary) and Verify (plain)
// see identical bytes. FLOAT is the exception: its text form has 6 significant digits
// (16777217 shows as 16777200), which would hide a damaged value, so it is widened to DOUBLE
// first, exactly, and shown with all the digits a double needs. The widened form also equals
// what a FLOAT → DOUBLE migration stores.
func canonicalList(names, types []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		if types[i] == "float" {
			parts[i] = "CONCAT(CAST(" + Quote(n) + " AS DOUBLE))"
		} else {
			parts[i] = "CONCAT(" + Quote(n) + ")"
		}
	}
	return strings.Join(parts, ", ")
}

// ColumnMissingError means the table lacks a column the model or the spec names.
type ColumnMissingError struct {
	Table, Column string
}

func (e *ColumnMissingError) Error() string {
	return fmt.Sprintf("loadgen: table %s has no column %s", e.Table, e.Column)
}

// columnTypes reads the DATA_TYPE of each named column of table in the current database.
func columnTypes(ctx context.Context, db *sql.DB, table string, names []string) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`, table)
	if err != nil {
		return nil, fmt.Errorf("loadgen: column types of %s: %w", table, err)
	}
	defer rows.Close()
	byName := map[string]string{}
	for rows.Next() {
		var n, t string
		if err := rows.Scan(&n, &t); err != nil {
			return nil, fmt.Errorf("loadgen: column types of %s: %w", table, err)
		}
		byName[strings.ToLower(n)] = strings.ToLower(t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loadgen: column types of %s: %w", table, err)
	}
	types := make([]string, len(names))
	for i, n := range names {
		t, ok := byName[strings.ToLower(n)]
		if !ok {
			return nil, &ColumnMissingError{Table: table, Column: n}
		}
		types[i] = t
	}
	return types, nil
}

// keyWhere is "`a` = ? AND `b` = ?" over the key columns.
func (s Spec) keyWhere() string {
	parts := make([]string, len(s.Key))
	for i, k := range s.Key {
		parts[i] = Quote(k.Name) + " = ?"
	}
	return strings.Join(parts, " AND ")
}
