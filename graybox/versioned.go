package graybox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Shape is which columns a Table reads and writes.
type Shape int

// The shapes of an expand/contract change.
const (
	// ShapeOld: the old version's columns only (before prepare, after abort).
	ShapeOld Shape = iota
	// ShapeDual: writes go to the old and the new columns; reads prefer the new column and fall
	// back to the old one when the new one is NULL or does not exist yet.
	ShapeDual
)

func (s Shape) String() string {
	if s == ShapeDual {
		return "dual"
	}
	return "old"
}

// StateSource tells a Table where its table stands; *Participant implements it.
type StateSource interface {
	State(table string) (State, bool)
}

var _ StateSource = (*Participant)(nil)

// TableConfig describes a versioned table.
type TableConfig struct {
	Schema, Table string
	// Key is the primary key column; its field must map to the same column in both versions.
	Key string
	// OldVersion and NewVersion are the versions named in the `gg` tags and in the
	// migration's PhaseRequest (e.g. "v1", "v2").
	OldVersion, NewVersion string
	// Rollout, when set, decides per key whether a dual-shape Get prefers the new column; keys
	// not yet rolled out read the old column, which dual writes keep current.
	Rollout *Rollout
	// IsUnknownColumn reports whether err is the server's "unknown column" error. nil means
	// matching MySQL/MariaDB error 1054 by its text ("Error 1054" / "Unknown column"), which
	// keeps graybox free of a driver dependency.
	IsUnknownColumn func(error) bool
}

// Table reads and writes rows of T in the shape the participant's phase calls for. Fields map
// to columns with `gg` tags:
//
//	ID     int64  `gg:"id"`                       // the same column in every version
//	Status string `gg:"v1:status,v2:status_v2"`   // status in v1, status_v2 in v2
//	Note   string `gg:"v2:note"`                  // only in v2
//
// Untagged fields and `gg:"-"` are ignored. The same Go value goes to the old and the new
// column, so their types must both hold it.
//
// The shape follows the participant: ShapeOld until a ready prepare of a migration to
// NewVersion, then ShapeDual, also after commit. The choice to stay dual after commit (rather
// than switching to the new column only) is deliberate: instances receive commit one by one, an
// instance still prepared reads either column, and the old column stays correct until a later
// contract migration drops it; to stop writing it, deploy a mapping without the old version.
//
// Before the rename the new column does not exist yet: a dual write or read that the server
// refuses with "unknown column" is retried in the old shape. The extra round trip lasts only
// from prepare to the rename, and it is what guarantees that every write after the rename fills
// both columns, with no window in which a cached "column absent" would let the columns diverge.
// The new column must be nullable: NULL is how a reader knows a row was not written since.
type Table[T any] struct {
	cfg    TableConfig
	src    StateSource
	name   string // escaped `schema`.`table`
	fields []field
	key    int // index into fields
}

type field struct {
	index    []int
	old, new string // column in each version; "" when absent
}

// NewTable checks T's tags against cfg.
func NewTable[T any](cfg TableConfig, src StateSource) (*Table[T], error) {
	switch {
	case cfg.Schema == "" || cfg.Table == "" || cfg.Key == "":
		return nil, errors.New("graybox: table config needs Schema, Table and Key")
	case cfg.OldVersion == "" || cfg.NewVersion == "" || cfg.OldVersion == cfg.NewVersion:
		return nil, errors.New("graybox: table config needs two distinct versions")
	case src == nil:
		return nil, errors.New("graybox: table config needs a state source")
	}
	typ := reflect.TypeFor[T]()
	if typ.Kind() != reflect.Struct {
		return nil, fmt.Errorf("graybox: %s is not a struct", typ)
	}
	t := &Table[T]{cfg: cfg, src: src, name: quote(cfg.Schema) + "." + quote(cfg.Table), key: -1}
	if t.cfg.IsUnknownColumn == nil {
		t.cfg.IsUnknownColumn = isUnknownColumn
	}
	for _, sf := range reflect.VisibleFields(typ) {
		tag, ok := sf.Tag.Lookup("gg")
		if !ok || tag == "-" || !sf.IsExported() {
			continue
		}
		f, err := parseTag(tag, cfg.OldVersion, cfg.NewVersion)
		if err != nil {
			return nil, fmt.Errorf("graybox: field %s: %w", sf.Name, err)
		}
		f.index = sf.Index
		if f.old == cfg.Key && f.new == cfg.Key {
			t.key = len(t.fields)
		}
		t.fields = append(t.fields, f)
	}
	if t.key < 0 {
		return nil, fmt.Errorf("graybox: no field maps to key column %q in both versions", cfg.Key)
	}
	return t, nil
}

// parseTag reads "col" or "old:col,new:col".
func parseTag(tag, oldV, newV string) (field, error) {
	var f field
	for _, part := range strings.Split(tag, ",") {
		ver, col, versioned := strings.Cut(strings.TrimSpace(part), ":")
		if !versioned {
			col, f.old, f.new = ver, ver, ver
		}
		switch {
		case col == "":
			return f, fmt.Errorf("empty column in tag %q", tag)
		case !versioned:
		case ver == oldV:
			f.old = col
		case ver == newV:
			f.new = col
		default:
			return f, fmt.Errorf("tag %q names version %q, not %q or %q", tag, ver, oldV, newV)
		}
	}
	return f, nil
}

func quote(ident string) string { return "`" + strings.ReplaceAll(ident, "`", "``") + "`" }

// isUnknownColumn matches ER_BAD_FIELD_ERROR (1054), e.g. go-sql-driver's "Error 1054 (42S22):
// Unknown column 'status_v2' in 'field list'".
func isUnknownColumn(err error) bool {
	s := err.Error()
	return strings.Contains(s, "Error 1054") || strings.Contains(s, "Unknown column")
}

// Shape is the shape the table is read and written in now.
func (t *Table[T]) Shape() Shape {
	s, _ := t.src.State(t.cfg.Schema + "." + t.cfg.Table)
	switch {
	case s.Version == t.cfg.NewVersion:
		return ShapeDual // committed, or started on the new version
	case s.Migrating() && s.NewVersion == t.cfg.NewVersion:
		return ShapeDual
	}
	return ShapeOld
}

// Execer runs a statement: *sql.DB, *sql.Tx and *sql.Conn are Execers.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Querier runs a query: *sql.DB, *sql.Tx and *sql.Conn are Queriers.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// column is one column of a statement and the field it comes from.
type column struct {
	name  string
	field int
	isNew bool // the new version's column of a versioned field
}

// columns lists the columns of shape, each once.
func (t *Table[T]) columns(shape Shape) []column {
	var cols []column
	for i, f := range t.fields {
		if f.old != "" {
			cols = append(cols, column{name: f.old, field: i})
		}
		if shape == ShapeDual && f.new != "" && f.new != f.old {
			cols = append(cols, column{name: f.new, field: i, isNew: true})
		}
	}
	return cols
}
