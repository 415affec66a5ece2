package cutover

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// quoteIdent escapes an identifier: backticks around, inner backticks doubled.
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func qualified(schema, table string) string { return quoteIdent(schema) + "." + quoteIdent(table) }

// GhostTable is the name gh-ost gives the ghost table of table.
func GhostTable(table string) string { return "_" + table + "_gho" }

// ErrNoSharedKey means the checksum cannot chunk: the original table has no primary key, or
// the ghost table lacks one of its columns.
var ErrNoSharedKey = errors.New("cutover: checksum needs the original table's primary key columns in both tables")

// column is one column of a table as the checksum needs it.
type column struct {
	name    string
	charset bool // a character column: compared after conversion to utf8mb4
}

func tableColumns(ctx context.Context, db *sql.DB, schema, table string) ([]column, error) {
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, CHARACTER_SET_NAME IS NOT NULL
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, schema, table)
	if err != nil {
		return nil, fmt.Errorf("cutover: columns of %s.%s: %w", schema, table, err)
	}
	defer rows.Close()
	var out []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.charset); err != nil {
			return nil, fmt.Errorf("cutover: columns of %s.%s: %w", schema, table, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cutover: columns of %s.%s: %w", schema, table, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cutover: table %s.%s not found", schema, table)
	}
	return out, nil
}

func primaryKey(ctx context.Context, db *sql.DB, schema, table string) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`, schema, table)
	if err != nil {
		return nil, fmt.Errorf("cutover: primary key of %s.%s: %w", schema, table, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("cutover: primary key of %s.%s: %w", schema, table, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// commonColumns are the columns of orig that ghost has too (MySQL column names compare
// case-insensitively), minus the excluded ones, in orig's order. A character column is
// converted when either side is one, so that a charset change compares by value.
func commonColumns(orig, ghost []column, exclude []string) []column {
	in := map[string]column{}
	for _, c := range ghost {
		in[strings.ToLower(c.name)] = c
	}
	skip := map[string]bool{}
	for _, e := range exclude {
		skip[strings.ToLower(e)] = true
	}
	var out []column
	for _, c := range orig {
		g, ok := in[strings.ToLower(c.name)]
		if !ok || skip[strings.ToLower(c.name)] {
			continue
		}
		out = append(out, column{name: c.name, charset: c.charset || g.charset})
	}
	return out
}

// rowHash is the SQL expression hashing one row over cols. Each character column is converted
// to utf8mb4 so that a charset change compares by value, not by bytes; numbers and temporal
// values compare by their text form (INT → BIGINT equal, FLOAT → DOUBLE or a DECIMAL scale
// change not). CONCAT_WS skips NULLs, so a NULL bitmap is appended: ('a', NULL) and (NULL, 'a')
// hash differently, and so do NULL and ”.
func rowHash(cols []column) string {
	vals := make([]string, 0, len(cols)+1)
	nulls := make([]string, 0, len(cols))
	for _, c := range cols {
		q := quoteIdent(c.name)
		if c.charset {
			vals = append(vals, "CONVERT("+q+" USING utf8mb4)")
		} else {
			vals = append(vals, q)
		}
		nulls = append(nulls, "ISNULL("+q+")")
	}
	vals = append(vals, "CONCAT("+strings.Join(nulls, ", ")+")")
	return "MD5(CONCAT_WS('#', " + strings.Join(vals, ", ") + "))"
}

// chunkChecksumSQL is the aggregate over one key range: the row count and the XOR of both
// 64-bit halves of each row's MD5. XOR is order-independent, so the two tables may return their
// rows in any order; 128 bits make a collision of two different chunks negligible.
func chunkChecksumSQL(schema, table string, cols []column, where string) string {
	h := rowHash(cols)
	return "SELECT COUNT(*), " +
		"COALESCE(BIT_XOR(CAST(CONV(SUBSTRING(" + h + ", 1, 16), 16, 10) AS UNSIGNED)), 0), " +
		"COALESCE(BIT_XOR(CAST(CONV(SUBSTRING(" + h + ", 17, 16), 16, 10) AS UNSIGNED)), 0) " +
		"FROM " + qualified(schema, table) + where
}

// chunkRowsSQL lists one key range row by row: the key columns (character columns converted
// like rowHash does, so both tables give the same text) and one hash per compared column, in
// key order. It names the row and the columns that differ once a chunk's checksums did.
func chunkRowsSQL(schema, table string, key, cols []column, where string) string {
	var sel, order []string
	for _, k := range key {
		q := quoteIdent(k.name)
		order = append(order, q)
		if k.charset {
			q = "CONVERT(" + q + " USING utf8mb4)"
		}
		sel = append(sel, q)
	}
	for i := range cols {
		sel = append(sel, rowHash(cols[i:i+1]))
	}
	return "SELECT " + strings.Join(sel, ", ") + " FROM " + qualified(schema, table) + where + " ORDER BY " + strings.Join(order, ", ")
}

// keyCompare is the predicate "key op bound" (op ">" or "<=") over the key columns in index
// order, expanded so that it works on every server version and can use the index:
// (a > ?) OR (a = ? AND b > ?). Only the last column takes the equality of "<=".
func keyCompare(key []string, op string) string {
	var ors []string
	for i := range key {
		var ands []string
		for j := 0; j < i; j++ {
			ands = append(ands, quoteIdent(key[j])+" = ?")
		}
		o := op
		if i < len(key)-1 {
			o = strings.TrimSuffix(op, "=")
		}
		ands = append(ands, quoteIdent(key[i])+" "+o+" ?")
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

// keyArgs repeats the bound's values in the order keyCompare's placeholders take them.
func keyArgs(bound []any) []any {
	var out []any
	for i := range bound {
		out = append(out, bound[:i+1]...)
	}
	return out
}

// rangeWhere is " WHERE key > lo AND key <= hi" (either end may be open: nil). For a composite
// key the first column's bounds are stated on their own as well (a >= lo_a AND a <= hi_a): they
// follow from the tuple comparison, and they guarantee an index range on the primary key even to
// an optimizer that cannot read the OR form as one. The checksum's locking read must lock the
// chunk, never the whole table.
func rangeWhere(key []string, lo, hi []any) (string, []any) {
	var conds []string
	var args []any
	if lo != nil {
		if len(key) > 1 {
			conds, args = append(conds, quoteIdent(key[0])+" >= ?"), append(args, lo[0])
		}
		c := keyCompare(key, ">")
		conds, args = append(conds, c), append(args, keyArgs(lo)...)
	}
	if hi != nil {
		if len(key) > 1 {
			conds, args = append(conds, quoteIdent(key[0])+" <= ?"), append(args, hi[0])
		}
		c := keyCompare(key, "<=")
		conds, args = append(conds, c), append(args, keyArgs(hi)...)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// nextBoundSQL finds the upper bound of the chunk after lo: the chunk-th key past it.
func nextBoundSQL(schema, table string, key []string, lo []any, chunk int) (string, []any) {
	cols := make([]string, len(key))
	for i, k := range key {
		cols[i] = quoteIdent(k)
	}
	where, args := rangeWhere(key, lo, nil)
	return fmt.Sprintf("SELECT %s FROM %s%s ORDER BY %s LIMIT 1 OFFSET %d", strings.Join(cols, ", "),
		qualified(schema, table), where, strings.Join(cols, ", "), chunk-1), args
}
