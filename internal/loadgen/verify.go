package loadgen

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
)

// ColumnDiff is one column whose stored value differs from the expected one.
type ColumnDiff struct {
	Column    string
	Want, Got sql.NullString
}

// RowDiff is a row present in both the table and the model with different values.
type RowDiff struct {
	Key     []string
	Columns []ColumnDiff
}

// Diff is the outcome of Verify: what the table holds that the model does not expect, and the
// reverse. Keys and values are in canonical form.
type Diff struct {
	Table   string
	Names   []string // the columns compared: key columns first
	NKey    int      // how many of Names form the key
	Checked int      // rows read from the table
	Missing []Row    // expected, not in the table
	Extra   []Row    // in the table, not expected
	Wrong   []RowDiff
}

// Empty reports whether the table matched the model exactly.
func (d Diff) Empty() bool { return len(d.Missing) == 0 && len(d.Extra) == 0 && len(d.Wrong) == 0 }

// maxShown bounds each list in Diff.String so that a wholesale failure stays readable.
const maxShown = 20

// String summarises the diff and lists up to 20 rows of each kind with column-level detail.
func (d Diff) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s: %d rows read, %d missing, %d extra, %d wrong",
		d.Table, d.Checked, len(d.Missing), len(d.Extra), len(d.Wrong))
	for i, r := range d.Missing {
		if i == maxShown {
			fmt.Fprintf(&b, "\n  … %d more missing", len(d.Missing)-maxShown)
			break
		}
		fmt.Fprintf(&b, "\n  missing %s: want %s", d.keyString(r.Key(d.NKey)), d.rowString(r))
	}
	for i, r := range d.Extra {
		if i == maxShown {
			fmt.Fprintf(&b, "\n  … %d more extra", len(d.Extra)-maxShown)
			break
		}
		fmt.Fprintf(&b, "\n  extra %s: got %s", d.keyString(r.Key(d.NKey)), d.rowString(r))
	}
	for i, w := range d.Wrong {
		if i == maxShown {
			fmt.Fprintf(&b, "\n  … %d more wrong", len(d.Wrong)-maxShown)
			break
		}
		fmt.Fprintf(&b, "\n  wrong %s:", d.keyString(w.Key))
		for _, c := range w.Columns {
			fmt.Fprintf(&b, " %s want %s got %s;", c.Column, show(c.Want), show(c.Got))
		}
	}
	return b.String()
}

func (d Diff) keyString(key []string) string {
	parts := make([]string, len(key))
	for i, k := range key {
		parts[i] = d.Names[i] + "=" + k
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func (d Diff) rowString(r Row) string {
	parts := make([]string, 0, len(r.Vals)-d.NKey)
	for i := d.NKey; i < len(r.Vals); i++ {
		parts = append(parts, d.Names[i]+"="+show(r.Vals[i]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// show quotes a value (binary columns hold arbitrary bytes) and long values are cut.
func show(v sql.NullString) string {
	if !v.Valid {
		return "NULL"
	}
	s := v.String
	if len(s) > 80 {
		return fmt.Sprintf("%q…(%d bytes)", s[:80], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// Verify reads every row of table (in primary-key order, the model's columns only, in canonical
// form) and compares it with the model. The error is for a failed read; a mismatch is data in
// the Diff. To check a replica, wait for it first (sandboxtest.WaitReplica) and pass its pool.
func Verify(ctx context.Context, db *sql.DB, table string, m *Model) (Diff, error) {
	d := Diff{Table: table, Names: m.Names(), NKey: m.nkey}
	seen := make(map[string]bool, len(m.rows))
	err := scanTable(ctx, db, table, m.names, m.nkey, func(got Row) error {
		d.Checked++
		k := encodeKey(got.Key(m.nkey))
		want, ok := m.rows[k]
		if !ok {
			d.Extra = append(d.Extra, got)
			return nil
		}
		seen[k] = true
		if cols := compareRow(m.names, m.nkey, want, got); len(cols) > 0 {
			d.Wrong = append(d.Wrong, RowDiff{Key: got.Key(m.nkey), Columns: cols})
		}
		return nil
	})
	if err != nil {
		return Diff{}, err
	}
	for k, r := range m.rows {
		if !seen[k] {
			d.Missing = append(d.Missing, r)
		}
	}
	sort.Slice(d.Missing, func(i, j int) bool {
		return keyLess(d.Missing[i].Key(m.nkey), d.Missing[j].Key(m.nkey))
	})
	return d, nil
}

func compareRow(names []string, nkey int, want, got Row) []ColumnDiff {
	var cols []ColumnDiff
	for i := nkey; i < len(names); i++ {
		if want.Vals[i] != got.Vals[i] {
			cols = append(cols, ColumnDiff{Column: names[i], Want: want.Vals[i], Got: got.Vals[i]})
		}
	}
	return cols
}
