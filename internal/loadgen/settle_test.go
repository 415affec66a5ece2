package loadgen

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// TestSettleWaitsForTheInFlightTransaction: a commit whose outcome is unknown is settled by a
// locking read, which waits for a transaction still open on the server instead of reading the
// old row, and the model follows what the server finally holds.
func TestSettleWaitsForTheInFlightTransaction(t *testing.T) {
	ctx := context.Background()
	d := sandboxtest.New(t)
	spec := Simple("items")
	require.NoError(t, Create(ctx, d.Primary, spec))
	require.NoError(t, Seed(ctx, d.Primary, spec, 3))
	w, err := NewWriter(d.Primary, Config{Spec: spec, Workers: 1, Mix: Mix{Insert: 1}})
	require.NoError(t, err)
	w.types, err = columnTypes(ctx, d.Primary, spec.Table, spec.Names())
	require.NoError(t, err)
	wk := newWorker(w, 0)
	snap, err := Snapshot(ctx, d.Primary, spec)
	require.NoError(t, err)
	for _, k := range snap.Keys() {
		r, _ := snap.Get(k...)
		wk.own(r)
	}

	// The "lost" commits: row 2 was deleted, row 9 inserted, by a transaction still open.
	inflight, err := d.Primary.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = inflight.Exec("DELETE FROM items WHERE id = 2")
	require.NoError(t, err)
	_, err = inflight.Exec("INSERT INTO items (id, k, c, pad) VALUES (9, 99, 'nine', '')")
	require.NoError(t, err)
	wk.pending[encodeKey([]string{"2"})] = []any{"2"}
	wk.pending[encodeKey([]string{"9"})] = []any{int64(9)}

	done := make(chan int, 1)
	go func() { done <- wk.settleAll() }()
	select {
	case <-done:
		t.Fatal("settle did not wait for the open transaction")
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, inflight.Commit())
	require.Zero(t, <-done, "nothing left unsettled")

	require.Equal(t, 2, wk.rec.reconciled)
	_, has2 := wk.model.Get("2")
	require.False(t, has2, "the delete committed")
	r9, has9 := wk.model.Get("9")
	require.True(t, has9, "the insert committed")
	require.Equal(t, "nine", r9.Vals[2].String)
	require.Len(t, wk.keys, 3)
}
