package ghost

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// column is one column of a table as information_schema describes it.
type column struct {
	name      string
	dataType  string // DATA_TYPE, lower case
	colType   string // COLUMN_TYPE: enum/set members, "unsigned"
	charset   string // CHARACTER_SET_NAME; "" for non-character columns
	collation string
	octetLen  int64 // CHARACTER_OCTET_LENGTH: BINARY(n) padding
	precision int64 // NUMERIC_PRECISION / NUMERIC_SCALE: DECIMAL(p,s)
	scale     int64
	generated bool
}

func (c column) unsigned() bool { return strings.Contains(c.colType, "unsigned") }

// stringFamily: compared byte for byte (CAST … AS BINARY), never through a collation, which may be
// case- or accent-insensitive and would hide a later change.
func (c column) stringFamily() bool {
	switch c.dataType {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext",
		"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "enum", "set":
		return true
	}
	return false
}

// safeName guards the charset and collation names spliced into SQL (they are keywords, not
// bindable); they come from information_schema and are always of this form.
var safeName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// tableColumns lists the columns of schema.table in ordinal order, which is binlog order.
func tableColumns(ctx context.Context, db *sql.DB, schema, table string) ([]column, error) {
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, LOWER(DATA_TYPE), LOWER(COLUMN_TYPE),
		COALESCE(CHARACTER_SET_NAME, ''), COALESCE(COLLATION_NAME, ''), COALESCE(CHARACTER_OCTET_LENGTH, 0),
		COALESCE(NUMERIC_PRECISION, 0), COALESCE(NUMERIC_SCALE, 0), IS_GENERATED <> 'NEVER'
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, schema, table)
	if err != nil {
		return nil, fmt.Errorf("ghost: columns of %s.%s: %w", schema, table, err)
	}
	defer rows.Close()
	var out []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.dataType, &c.colType, &c.charset, &c.collation, &c.octetLen,
			&c.precision, &c.scale, &c.generated); err != nil {
			return nil, fmt.Errorf("ghost: columns of %s.%s: %w", schema, table, err)
		}
		if !safeName.MatchString(c.charset+"x") || !safeName.MatchString(c.collation+"x") {
			return nil, fmt.Errorf("ghost: column %s has an unexpected charset %q or collation %q", c.name, c.charset, c.collation)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ghost: columns of %s.%s: %w", schema, table, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ghost: table %s.%s has no columns (does it exist?)", schema, table)
	}
	return out, nil
}

// keyColumns returns the columns of the primary key, or else of the first unique key over NOT
// NULL columns (gh-ost needs one of those too), in key order.
func keyColumns(ctx context.Context, db *sql.DB, schema, table string) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT s.INDEX_NAME, s.COLUMN_NAME, c.IS_NULLABLE = 'YES'
		FROM information_schema.STATISTICS s JOIN information_schema.COLUMNS c
		  ON c.TABLE_SCHEMA = s.TABLE_SCHEMA AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME
		WHERE s.TABLE_SCHEMA = ? AND s.TABLE_NAME = ? AND s.NON_UNIQUE = 0
		ORDER BY s.INDEX_NAME <> 'PRIMARY', s.INDEX_NAME, s.SEQ_IN_INDEX`, schema, table)
	if err != nil {
		return nil, fmt.Errorf("ghost: keys of %s.%s: %w", schema, table, err)
	}
	defer rows.Close()
	keys := map[string][]string{}
	nullable := map[string]bool{}
	var order []string
	for rows.Next() {
		var idx, col string
		var null bool
		if err := rows.Scan(&idx, &col, &null); err != nil {
			return nil, fmt.Errorf("ghost: keys of %s.%s: %w", schema, table, err)
		}
		if _, ok := keys[idx]; !ok {
			order = append(order, idx)
		}
		keys[idx] = append(keys[idx], col)
		nullable[idx] = nullable[idx] || null
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ghost: keys of %s.%s: %w", schema, table, err)
	}
	for _, idx := range order {
		if !nullable[idx] {
			return keys[idx], nil
		}
	}
	return nil, fmt.Errorf("ghost: %s.%s has no primary key or unique key over NOT NULL columns", schema, table)
}

// valueKind says how a decoded binlog value is bound and compared.
type valueKind int

const (
	kindNull     valueKind = iota
	kindNumber             // int64, uint64 or float64: bound as is
	kindDecimal            // exact decimal string: CAST(? AS DECIMAL(p,s))
	kindText               // bytes in the old column's charset
	kindBytes              // binary bytes
	kindTemporal           // a date/time string as go-mysql formats it; TIMESTAMPs in UTC
)

// value is one binlog value ready to be bound against a column of the new table.
type value struct {
	kind             valueKind
	arg              any
	charset          string // kindText: the charset arg's bytes are in
	precision, scale int64  // kindDecimal
}

// decodeValue turns what go-mysql decoded (replication/row_event.go decodeValue, with ParseTime
// and UseDecimal off) for a column of the original table into a value. Types the audit does not
// know are an error, reported as a conflict rather than guessed.
func decodeValue(c column, v any) (value, error) {
	if v == nil {
		return value{kind: kindNull}, nil
	}
	switch c.dataType {
	case "tinyint", "smallint", "mediumint", "int", "bigint", "year":
		return integerValue(c, v)
	case "bit":
		if n, ok := v.(int64); ok { // go-mysql decodes BIT(n) into an int64 bit pattern
			return value{kind: kindNumber, arg: uint64(n)}, nil
		}
	case "float":
		if f, ok := v.(float32); ok {
			return value{kind: kindNumber, arg: float64(f)}, nil
		}
	case "double":
		if f, ok := v.(float64); ok {
			return value{kind: kindNumber, arg: f}, nil
		}
	case "decimal":
		if s, ok := v.(string); ok {
			return value{kind: kindDecimal, arg: s, precision: c.precision, scale: c.scale}, nil
		}
	case "date", "datetime", "timestamp", "time":
		if s, ok := v.(string); ok {
			return value{kind: kindTemporal, arg: s}, nil
		}
	case "enum", "set":
		return labelValue(c, v)
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		if b, ok := asBytes(v); ok {
			return value{kind: kindText, arg: b, charset: c.charset}, nil
		}
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		if b, ok := asBytes(v); ok {
			return value{kind: kindBytes, arg: padBinary(c, b)}, nil
		}
	default:
		return value{}, fmt.Errorf("column %s: type %s is not supported by the cut-over repair", c.name, c.colType)
	}
	return value{}, fmt.Errorf("column %s (%s): unexpected binlog value of Go type %T", c.name, c.colType, v)
}

// integerValue: the binlog carries integers as raw signed bits of the column's width; unsigned
// columns are re-read as unsigned (go-mysql cannot know the sign without full row metadata).
func integerValue(c column, v any) (value, error) {
	var n int64
	switch x := v.(type) {
	case int8:
		n = int64(x)
	case int16:
		n = int64(x)
	case int32:
		n = int64(x)
	case int64:
		n = x
	case int:
		n = int64(x)
	default:
		return value{}, fmt.Errorf("column %s (%s): unexpected binlog value of Go type %T", c.name, c.colType, v)
	}
	if !c.unsigned() || c.dataType == "year" {
		return value{kind: kindNumber, arg: n}, nil
	}
	bits := map[string]uint{"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "bigint": 64}[c.dataType]
	u := uint64(n)
	if bits < 64 {
		u &= 1<<bits - 1
	}
	return value{kind: kindNumber, arg: u}, nil
}

// labelValue: ENUM is logged as its index, SET as its bit mask; both become their labels, so that
// an ALTER that reorders or extends the members is still compared correctly.
func labelValue(c column, v any) (value, error) {
	n, ok := v.(int64)
	if !ok {
		return value{}, fmt.Errorf("column %s (%s): unexpected binlog value of Go type %T", c.name, c.colType, v)
	}
	members, err := parseMembers(c.colType)
	if err != nil {
		return value{}, fmt.Errorf("column %s: %w", c.name, err)
	}
	var label string
	if c.dataType == "enum" {
		switch {
		case n == 0: // the "" error value of an invalid insert in non-strict mode
		case n >= 1 && int(n) <= len(members):
			label = members[n-1]
		default:
			return value{}, fmt.Errorf("column %s: enum index %d out of range", c.name, n)
		}
	} else {
		var parts []string
		for i, m := range members {
			if uint64(n)&(1<<uint(i)) != 0 {
				parts = append(parts, m)
			}
		}
		label = strings.Join(parts, ",")
	}
	return value{kind: kindText, arg: []byte(label), charset: c.charset}, nil
}

// parseMembers reads the members of "enum('a','b”c')" or "set(…)" as COLUMN_TYPE shows them:
// single-quoted, quotes doubled. (Members are strings in the column's charset; COLUMN_TYPE is
// returned as utf8, so this holds for utf8 and ASCII member names.)
func parseMembers(colType string) ([]string, error) {
	open := strings.IndexByte(colType, '(')
	if open < 0 || !strings.HasSuffix(colType, ")") {
		return nil, fmt.Errorf("cannot read the members of %q", colType)
	}
	s := colType[open+1 : len(colType)-1]
	var out []string
	for len(s) > 0 {
		if s[0] != '\'' {
			return nil, fmt.Errorf("cannot read the members of %q", colType)
		}
		var b strings.Builder
		i := 1
		for ; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i++
					continue
				}
				break
			}
			b.WriteByte(s[i])
		}
		if i >= len(s) {
			return nil, fmt.Errorf("cannot read the members of %q", colType)
		}
		out = append(out, b.String())
		s = strings.TrimPrefix(s[i+1:], ",")
	}
	return out, nil
}

func asBytes(v any) ([]byte, bool) {
	switch x := v.(type) {
	case string:
		return []byte(x), true
	case []byte:
		return x, true
	}
	return nil, false
}

// padBinary restores BINARY(n) padding: the binlog drops trailing 0x00 bytes of a BINARY value
// (MariaDB Field_string::pack strips pad characters), the table keeps them.
func padBinary(c column, b []byte) []byte {
	if c.dataType != "binary" || int64(len(b)) >= c.octetLen {
		return b
	}
	out := make([]byte, c.octetLen)
	copy(out, b)
	return out
}

// forColumn adapts v to the new table's column nc: BINARY(n) there is padded to its own length.
func (v value) forColumn(nc column) value {
	if b, ok := v.arg.([]byte); ok && (v.kind == kindBytes || v.kind == kindText) {
		v.arg = padBinary(nc, b)
	}
	return v
}

// expr is the SQL for v as a value of the new column nc, with one placeholder for v.arg. Text is
// converted from the charset its bytes are in to nc's, with nc's collation: an explicit collation
// keeps the key lookup on nc's index and avoids "illegal mix of collations".
func (v value) expr(nc column) string {
	switch v.kind {
	case kindDecimal:
		return fmt.Sprintf("CAST(? AS DECIMAL(%d,%d))", v.precision, v.scale)
	case kindText:
		src := "CONVERT(? USING " + v.charset + ")"
		if nc.charset == "" {
			return src
		}
		return "CONVERT(" + src + " USING " + nc.charset + ") COLLATE " + nc.collation
	case kindBytes:
		if nc.charset == "" {
			return "?"
		}
		return "CONVERT(? USING " + nc.charset + ") COLLATE " + nc.collation
	}
	return "?"
}

// equal is a NULL-safe, exact comparison of nc's value in the row with v (one placeholder).
func (v value) equal(nc column) string {
	col := quoteIdent(nc.name)
	if nc.stringFamily() && v.kind != kindNull {
		return "CAST(" + col + " AS BINARY) <=> CAST(" + v.expr(nc) + " AS BINARY)"
	}
	return col + " <=> " + v.expr(nc)
}

// display renders v for people (LostWrite.Key).
func (v value) display() string {
	switch x := v.arg.(type) {
	case nil:
		return "NULL"
	case []byte:
		if v.kind == kindText && utf8.Valid(x) {
			return strconv.Quote(string(x))
		}
		return "0x" + hex.EncodeToString(x)
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}
