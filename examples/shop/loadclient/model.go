package loadclient

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/ghostgate/ghostgate/examples/shop"
)

// Row is the part of an order the client decides and checks.
type Row struct {
	ID          int64
	CustomerID  int64
	Status      shop.Status
	AmountCents int64
}

func (r Row) String() string {
	return fmt.Sprintf("{customer_id=%d status=%s amount=%s}", r.CustomerID, r.Status, shop.Cents(r.AmountCents))
}

// State is one acceptable state of an id: absent, or present with Row.
type State struct {
	Exists bool
	Row    Row
}

func (s State) String() string {
	if !s.Exists {
		return "absent"
	}
	return s.Row.String()
}

// Model is what the table is expected to hold for the ids the client used: for each id, the
// states it may be in (one, or two after a write with an unknown outcome). A Model returned by
// Stop is no longer written to.
type Model struct {
	first, next int64 // the client's ids are [first, next)
	ids         map[int64][]State
}

func newModel(first int64) *Model { return &Model{first: first, next: first, ids: map[int64][]State{}} }

// Range is the client's id range [first, next).
func (m *Model) Range() (first, next int64) { return m.first, m.next }

// Expect returns the acceptable states of id; ok is false for an id the client never used.
func (m *Model) Expect(id int64) (states []State, ok bool) {
	s, ok := m.ids[id]
	return append([]State(nil), s...), ok
}

// Len is the number of ids the model knows.
func (m *Model) Len() int { return len(m.ids) }

// Present counts the ids certainly expected to exist.
func (m *Model) Present() int {
	n := 0
	for _, s := range m.ids {
		if len(s) == 1 && s[0].Exists {
			n++
		}
	}
	return n
}

// Uncertain counts the ids with more than one acceptable state.
func (m *Model) Uncertain() int {
	n := 0
	for _, s := range m.ids {
		if len(s) > 1 {
			n++
		}
	}
	return n
}

func (m *Model) set(id int64, states ...State) {
	m.ids[id] = states
	if id >= m.next {
		m.next = id + 1
	}
}

func (m *Model) merge(o *Model) {
	for id, s := range o.ids {
		m.set(id, s...)
	}
}

// Problem is one id where the table contradicts the model.
type Problem struct {
	ID     int64
	Want   []State // the acceptable states
	Got    State   // what the table holds
	Detail string  // which column differs, or the status_code inconsistency
}

func (p Problem) String() string {
	want := make([]string, len(p.Want))
	for i, s := range p.Want {
		want[i] = s.String()
	}
	s := fmt.Sprintf("id %d: want %s, got %s", p.ID, strings.Join(want, " or "), p.Got)
	if p.Detail != "" {
		s += " (" + p.Detail + ")"
	}
	return s
}

// Diff is the outcome of Verify.
type Diff struct {
	Checked int       // ids compared
	Missing []Problem // expected to exist, absent
	Extra   []Problem // expected to be absent, present
	Wrong   []Problem // present with other values, or status_code not matching status
}

// Empty reports whether the table matched the model.
func (d Diff) Empty() bool { return len(d.Missing)+len(d.Extra)+len(d.Wrong) == 0 }

// String summarises the diff, listing up to 20 problems of each kind.
func (d Diff) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d ids checked: %d missing, %d extra, %d wrong", d.Checked, len(d.Missing), len(d.Extra), len(d.Wrong))
	for _, list := range []struct {
		name string
		ps   []Problem
	}{{"missing", d.Missing}, {"extra", d.Extra}, {"wrong", d.Wrong}} {
		for i, p := range list.ps {
			if i == 20 {
				fmt.Fprintf(&b, "\n  … %d more %s", len(list.ps)-20, list.name)
				break
			}
			fmt.Fprintf(&b, "\n  %s %s", list.name, p)
		}
	}
	return b.String()
}

// dbRow is a row as read by Verify.
type dbRow struct {
	row  Row
	code sql.NullInt16 // status_code, when the column exists
}

// Verify reads the client's id range of schema.table and compares every id with the model. On
// schema version v2 it also checks that a set status_code agrees with status (the dual write).
// The error is for a failed read; a mismatch is data in the Diff.
func Verify(ctx context.Context, db *sql.DB, schema, table string, m *Model) (Diff, error) {
	got, err := readRange(ctx, db, schema, table, m.first, m.next)
	if err != nil {
		return Diff{}, err
	}
	var d Diff
	ids := make([]int64, 0, len(m.ids))
	for id := range m.ids {
		ids = append(ids, id)
	}
	for id := range got {
		if _, ok := m.ids[id]; !ok {
			ids = append(ids, id) // a row at an id the client never used: extra
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		d.Checked++
		want := m.ids[id]
		if len(want) == 0 {
			want = []State{{}}
		}
		r, present := got[id]
		gotState := State{Exists: present, Row: r.row}
		if p, bad := compare(id, want, gotState, r.code); bad {
			switch {
			case present && !anyExists(want):
				d.Extra = append(d.Extra, p)
			case !present:
				d.Missing = append(d.Missing, p)
			default:
				d.Wrong = append(d.Wrong, p)
			}
		}
	}
	return d, nil
}

func anyExists(states []State) bool {
	for _, s := range states {
		if s.Exists {
			return true
		}
	}
	return false
}

// compare returns the problem when got is none of want, or when status_code contradicts status.
func compare(id int64, want []State, got State, code sql.NullInt16) (Problem, bool) {
	p := Problem{ID: id, Want: want, Got: got}
	if code.Valid && code.Int16 != got.Row.Status.Code() {
		p.Detail = fmt.Sprintf("status_code %d does not encode status %q", code.Int16, got.Row.Status)
		return p, true
	}
	for _, w := range want {
		if w.Exists == got.Exists && (!w.Exists || w.Row == got.Row) {
			return p, false
		}
	}
	if got.Exists && anyExists(want) {
		p.Detail = diffColumns(want[len(want)-1].Row, got.Row)
	}
	return p, true
}

func diffColumns(want, got Row) string {
	var cols []string
	if want.CustomerID != got.CustomerID {
		cols = append(cols, "customer_id")
	}
	if want.Status != got.Status {
		cols = append(cols, "status")
	}
	if want.AmountCents != got.AmountCents {
		cols = append(cols, "amount")
	}
	return "differs in " + strings.Join(cols, ", ")
}

// readRange reads the rows with ids in [first, next), status_code included when the table has it.
func readRange(ctx context.Context, db *sql.DB, schema, table string, first, next int64) (map[int64]dbRow, error) {
	var n int
	if err := db.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?",
		schema, table, shop.NewColumn).Scan(&n); err != nil {
		return nil, fmt.Errorf("loadclient: verify: %w", err)
	}
	code := "NULL"
	if n > 0 {
		code = quote(shop.NewColumn)
	}
	q := "SELECT `id`, `customer_id`, `status`, `amount`, " + code + " FROM " + quote(schema) + "." + quote(table) +
		" WHERE `id` >= ? AND `id` < ?"
	rows, err := db.QueryContext(ctx, q, first, next)
	if err != nil {
		return nil, fmt.Errorf("loadclient: verify: %w", err)
	}
	defer rows.Close()
	out := map[int64]dbRow{}
	for rows.Next() {
		var r dbRow
		var amount shop.Cents
		if err := rows.Scan(&r.row.ID, &r.row.CustomerID, &r.row.Status, &amount, &r.code); err != nil {
			return nil, fmt.Errorf("loadclient: verify: %w", err)
		}
		r.row.AmountCents = int64(amount)
		out[r.row.ID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loadclient: verify: %w", err)
	}
	return out, nil
}

func quote(ident string) string { return "`" + strings.ReplaceAll(ident, "`", "``") + "`" }

// IDBaseAbove returns the first id above every row schema.table holds now (1 for an empty table):
// the IDBase of a client that must never collide with a seed, however many rows it has (issue 13:
// a seed of 1,000,000 rows or more reached DefaultIDBase and every create failed).
func IDBaseAbove(ctx context.Context, db *sql.DB, schema, table string) (int64, error) {
	var maxID sql.NullInt64
	q := "SELECT MAX(`id`) FROM " + quote(schema) + "." + quote(table)
	if err := db.QueryRowContext(ctx, q).Scan(&maxID); err != nil {
		return 0, fmt.Errorf("loadclient: highest id of %s.%s: %w", schema, table, err)
	}
	return maxID.Int64 + 1, nil
}
