package loadgen

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Row is one row in canonical form (see the package doc): the key columns, then the other
// columns, in the order of Spec.Names. A NULL is an invalid sql.NullString.
type Row struct {
	Vals []sql.NullString
}

// Model is the set of rows a table is expected to hold, keyed by primary key. A Model returned by
// Writer.Stop is no longer written to and is safe to read from several goroutines.
type Model struct {
	names []string
	nkey  int
	rows  map[string]Row
}

// NewModel is an empty model of spec's table.
func NewModel(spec Spec) *Model {
	return &Model{names: spec.Names(), nkey: len(spec.Key), rows: map[string]Row{}}
}

// Names lists the columns a model row holds (Spec.Names).
func (m *Model) Names() []string { return append([]string(nil), m.names...) }

// Len is the number of rows expected.
func (m *Model) Len() int { return len(m.rows) }

// Get returns the expected row for the key given in canonical form, one string per key column.
func (m *Model) Get(key ...string) (Row, bool) {
	r, ok := m.rows[encodeKey(key)]
	return r, ok
}

// Keys returns every expected key (canonical form), sorted for stable output.
func (m *Model) Keys() [][]string {
	out := make([][]string, 0, len(m.rows))
	for _, r := range m.rows {
		out = append(out, r.Key(m.nkey))
	}
	sort.Slice(out, func(i, j int) bool { return keyLess(out[i], out[j]) })
	return out
}

// Key is the row's key in canonical form.
func (r Row) Key(nkey int) []string {
	k := make([]string, nkey)
	for i := range k {
		k[i] = r.Vals[i].String
	}
	return k
}

// put records r as expected; del records that no row with key k is expected.
func (m *Model) put(r Row)      { m.rows[encodeKey(r.Key(m.nkey))] = r }
func (m *Model) del(k []string) { delete(m.rows, encodeKey(k)) }

// merge moves every row of o into m (disjoint key sets: each key belongs to one worker).
func (m *Model) merge(o *Model) {
	for k, r := range o.rows {
		m.rows[k] = r
	}
}

// encodeKey joins key parts unambiguously (length-prefixed), for use as a map key.
func encodeKey(parts []string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(strconv.Itoa(len(p)))
		b.WriteByte(':')
		b.WriteString(p)
	}
	return b.String()
}

// keyLess orders keys part by part, numerically when both parts are integers, so that output
// lists read in the table's order for integer keys.
func keyLess(a, b []string) bool {
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		x, errA := strconv.ParseInt(a[i], 10, 64)
		y, errB := strconv.ParseInt(b[i], 10, 64)
		if errA == nil && errB == nil {
			return x < y
		}
		return a[i] < b[i]
	}
	return false
}

// Snapshot reads every row of spec's table into a new model: the starting point of a writer on a
// table that already holds rows (a seeded one, say).
func Snapshot(ctx context.Context, db *sql.DB, spec Spec) (*Model, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	m := NewModel(spec)
	err := scanTable(ctx, db, spec.Table, m.names, m.nkey, func(r Row) error {
		m.put(r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// scanTable reads the named columns of every row of table in canonical form, in the order of
// the first nkey names (the primary key).
func scanTable(ctx context.Context, db *sql.DB, table string, names []string, nkey int, fn func(Row) error) error {
	types, err := columnTypes(ctx, db, table, names)
	if err != nil {
		return err
	}
	order := make([]string, nkey)
	for i := range order {
		order[i] = Quote(names[i])
	}
	q := "SELECT " + canonicalList(names, types) + " FROM " + Quote(table) + " ORDER BY " + strings.Join(order, ", ")
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("loadgen: read %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRow(rows, len(names))
		if err != nil {
			return fmt.Errorf("loadgen: read %s: %w", table, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("loadgen: read %s: %w", table, err)
	}
	return nil
}

// scanner is what *sql.Rows and *sql.Row have in common.
type scanner interface{ Scan(dest ...any) error }

func scanRow(s scanner, n int) (Row, error) {
	r := Row{Vals: make([]sql.NullString, n)}
	dest := make([]any, n)
	for i := range dest {
		dest[i] = &r.Vals[i]
	}
	if err := s.Scan(dest...); err != nil {
		return Row{}, err
	}
	return r, nil
}
