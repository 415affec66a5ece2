package loadclient

import (
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/examples/shop"
)

func TestCompare(t *testing.T) {
	a := Row{ID: 1, CustomerID: 1, Status: shop.StatusNew, AmountCents: 100}
	b := a
	b.Status, b.AmountCents = shop.StatusPaid, 200
	absent, hasA, hasB := State{}, State{Exists: true, Row: a}, State{Exists: true, Row: b}
	noCode := sql.NullInt16{}
	code := func(s shop.Status) sql.NullInt16 { return sql.NullInt16{Int16: s.Code(), Valid: true} }
	for _, tc := range []struct {
		name   string
		want   []State
		got    State
		code   sql.NullInt16
		bad    bool
		detail string
	}{
		{"same row", []State{hasA}, hasA, noCode, false, ""},
		{"same row with its code", []State{hasA}, hasA, code(shop.StatusNew), false, ""},
		{"absent as expected", []State{absent}, absent, noCode, false, ""},
		{"other values", []State{hasA}, hasB, noCode, true, "differs in status, amount"},
		{"missing", []State{hasA}, absent, noCode, true, ""},
		{"extra", []State{absent}, hasA, noCode, true, ""},
		{"uncertain create, absent", []State{absent, hasA}, absent, noCode, false, ""},
		{"uncertain create, present", []State{absent, hasA}, hasA, noCode, false, ""},
		{"uncertain update, either", []State{hasA, hasB}, hasB, noCode, false, ""},
		{"uncertain update, neither", []State{hasA, hasB}, absent, noCode, true, ""},
		{"code contradicts status", []State{hasA}, hasA, code(shop.StatusPaid), true, "status_code 2 does not encode status \"new\""},
	} {
		p, bad := compare(1, tc.want, tc.got, tc.code)
		require.Equal(t, tc.bad, bad, tc.name)
		require.Equal(t, tc.detail, p.Detail, tc.name)
	}
}

func TestModelMerge(t *testing.T) {
	m, o := newModel(10), newModel(10)
	o.set(12, State{})
	o.set(10, State{Exists: true, Row: Row{ID: 10}})
	m.merge(o)
	first, next := m.Range()
	require.Equal(t, int64(10), first)
	require.Equal(t, int64(13), next)
	require.Equal(t, 2, m.Len())
	require.Equal(t, 1, m.Present())
	require.Zero(t, m.Uncertain())
}
