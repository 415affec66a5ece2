package ghost

import (
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/stretchr/testify/require"
)

func rowsEv(table string, rows ...[]any) *replication.RowsEvent {
	return &replication.RowsEvent{Table: &replication.TableMapEvent{Schema: []byte("db"), Table: []byte(table)}, Rows: rows}
}

const cutOverRename = "rename /* gh-ost */ table `db`.`t` to `db`.`_t_20240102030405_del`, `db`.`_t_gho` to `db`.`t`"

// TestBinlogScan: only rows events on the table after the LAST marker and before gh-ost's rename
// count; updates pair before and after images; other schemas and tables, the rollback rename and
// a rename before any marker are ignored.
func TestBinlogScan(t *testing.T) {
	type ev struct {
		e   replication.Event
		typ replication.EventType
	}
	marker := rowsEv("_t_ghc", []any{int64(2), nil, "state", markerState + ":1"})
	markerUpdate := rowsEv("_t_ghc", []any{int64(2), nil, "state", "Migrated"}, []any{int64(2), nil, "state", markerState + ":2"})
	markerInBefore := rowsEv("_t_ghc", []any{int64(2), nil, "state", markerState + ":0"}, []any{int64(2), nil, "state", "x"})
	w, u, d := replication.WRITE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv1
	q := func(s string) ev { return ev{&replication.QueryEvent{Query: []byte(s)}, replication.QUERY_EVENT} }
	for _, tc := range []struct {
		name    string
		events  []ev
		renamed bool
		want    []lostRow
	}{
		{"no marker yet", []ev{{rowsEv("t", []any{1}), w}, q(cutOverRename)}, false, nil},
		{"after the marker", []ev{
			{rowsEv("t", []any{0}), d}, {marker, w}, {rowsEv("t", []any{1}, []any{2}), w},
			{rowsEv("t", []any{3}, []any{4}), u}, {rowsEv("t", []any{5}), d}, q(cutOverRename),
			{rowsEv("t", []any{6}), d}, // after the rename: the new table
		}, true, []lostRow{
			{op: OpInsert, after: []any{1}}, {op: OpInsert, after: []any{2}},
			{op: OpUpdate, before: []any{3}, after: []any{4}}, {op: OpDelete, before: []any{5}},
		}},
		{"only after the last marker", []ev{
			{marker, w}, {rowsEv("t", []any{1}), w}, {markerUpdate, u}, {rowsEv("t", []any{2}), w}, q(cutOverRename),
		}, true, []lostRow{{op: OpInsert, after: []any{2}}}},
		{"a marker in a before image is not one", []ev{
			{marker, w}, {markerInBefore, u}, {rowsEv("t", []any{1}), w}, q(cutOverRename),
		}, true, []lostRow{{op: OpInsert, after: []any{1}}}},
		{"other tables and schemas", []ev{
			{marker, w}, {rowsEv("u", []any{1}), w}, {rowsEv("_t_gho", []any{1}), w},
			{&replication.RowsEvent{Table: &replication.TableMapEvent{Schema: []byte("other"), Table: []byte("t")}, Rows: [][]any{{1}}}, w},
			q(cutOverRename),
		}, true, nil},
		{"rollback rename and other statements", []ev{
			{marker, w}, q("rename /* gh-ost */ table `db`.`t` to `db`.`_t_gho`, `db`.`_t_del` to `db`.`t`"),
			q("rename /* gh-ost */ table `db`.`t2` to `db`.`_t2_del`, `db`.`_t2_gho` to `db`.`t2`"),
			{rowsEv("t", []any{1}), w},
		}, false, []lostRow{{op: OpInsert, after: []any{1}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newBinlogScan("db", "t")
			for _, e := range tc.events {
				s.handle(e.e, e.typ, "f.000001:4")
				if s.renamed {
					break
				}
			}
			require.Equal(t, tc.renamed, s.renamed)
			for i := range tc.want {
				tc.want[i].binlog = "f.000001:4"
			}
			require.Equal(t, tc.want, s.pending)
		})
	}
}

func TestParseMembers(t *testing.T) {
	for in, want := range map[string][]string{
		"enum('a','b','c')":  {"a", "b", "c"},
		"set('x','y''z','')": {"x", "y'z", ""},
		"enum('a,b','(c)')":  {"a,b", "(c)"},
	} {
		got, err := parseMembers(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"enum", "enum(a)", "enum('a"} {
		_, err := parseMembers(bad)
		require.Error(t, err, bad)
	}
}

// TestDecodeValue: the binlog's signed bits become unsigned for unsigned columns, ENUM indexes and
// SET masks become labels, BINARY(n) regains its trailing zeros, unknown types are refused.
func TestDecodeValue(t *testing.T) {
	col := func(dataType, colType string) column {
		return column{name: "c", dataType: dataType, colType: colType, charset: "utf8mb4", octetLen: 4}
	}
	for _, tc := range []struct {
		c    column
		in   any
		want value
	}{
		{col("tinyint", "tinyint(3) unsigned"), int8(-1), value{kind: kindNumber, arg: uint64(255)}},
		{col("tinyint", "tinyint(4)"), int8(-1), value{kind: kindNumber, arg: int64(-1)}},
		{col("mediumint", "mediumint(8) unsigned"), int32(-1), value{kind: kindNumber, arg: uint64(1<<24 - 1)}},
		{col("int", "int(10) unsigned"), int32(-2), value{kind: kindNumber, arg: uint64(1<<32 - 2)}},
		{col("bigint", "bigint(20) unsigned"), int64(-1), value{kind: kindNumber, arg: uint64(1<<64 - 1)}},
		{col("year", "year(4)"), 2024, value{kind: kindNumber, arg: int64(2024)}},
		{col("bit", "bit(10)"), int64(5), value{kind: kindNumber, arg: uint64(5)}},
		{col("float", "float"), float32(1.5), value{kind: kindNumber, arg: float64(1.5)}},
		{col("enum", "enum('a','b')"), int64(2), value{kind: kindText, arg: []byte("b"), charset: "utf8mb4"}},
		{col("enum", "enum('a','b')"), int64(0), value{kind: kindText, arg: []byte(""), charset: "utf8mb4"}},
		{col("set", "set('x','y','z')"), int64(5), value{kind: kindText, arg: []byte("x,z"), charset: "utf8mb4"}},
		{col("binary", "binary(4)"), "\x01", value{kind: kindBytes, arg: []byte{1, 0, 0, 0}}},
		{col("varchar", "varchar(4)"), "ab", value{kind: kindText, arg: []byte("ab"), charset: "utf8mb4"}},
		{col("decimal", "decimal(5,2)"), "-1.50", value{kind: kindDecimal, arg: "-1.50"}},
		{col("datetime", "datetime(6)"), "2024-01-02 03:04:05.000001", value{kind: kindTemporal, arg: "2024-01-02 03:04:05.000001"}},
		{col("int", "int(11)"), nil, value{kind: kindNull}},
	} {
		got, err := decodeValue(tc.c, tc.in)
		require.NoError(t, err, tc.c.colType)
		require.Equal(t, tc.want, got, tc.c.colType)
	}
	for _, tc := range []struct {
		c  column
		in any
	}{
		{col("point", "point"), []byte{1}},
		{col("inet6", "inet6"), []byte{1}},
		{col("int", "int(11)"), "1"},
		{col("enum", "enum('a')"), int64(3)},
	} {
		_, err := decodeValue(tc.c, tc.in)
		require.Error(t, err, tc.c.colType)
	}
}
