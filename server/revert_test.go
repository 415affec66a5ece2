package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/migration"
)

// TestRevertOverTheAPI: POST …/revert on a completed gh-ost migration starts a new migration that
// goes through its own gate (manual approval holds it) and swaps the original back once approved;
// a revert with nothing left to swap back answers 409.
func TestRevertOverTheAPI(t *testing.T) {
	f := newFixture(t, 3000)
	ctx := context.Background()
	fwd := f.create(t, ghostDDL, func(r *client.CreateRequest) { r.Approval = "auto" })
	f.waitStatus(t, fwd.ID, migration.StatusComplete, 90*time.Second)
	require.Equal(t, "bigint(20)", f.d.ColumnType(t, "items", "k"))
	f.waitFor(t, fwd.ID, 30*time.Second, "the revert window open (gh-ost's post-cut-over checkpoint)", func(v client.MigrationView) bool {
		return v.Revert != nil && v.Revert.Open
	})
	list, err := f.api.List(ctx)
	require.NoError(t, err)
	for _, v := range list {
		require.Nil(t, v.Revert, "lists stay cheap: the window is in GET of one migration")
	}

	rev, err := f.api.Revert(ctx, fwd.ID)
	require.NoError(t, err)
	require.NotEqual(t, fwd.ID, rev.ID)
	f.waitFor(t, rev.ID, 90*time.Second, "the revert at its gate", func(v client.MigrationView) bool {
		return v.Status == migration.StatusReady
	})
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, "bigint(20)", f.d.ColumnType(t, "items", "k"), "no swap back without approval")
	_, err = f.api.Approve(ctx, rev.ID)
	require.NoError(t, err)
	f.waitStatus(t, rev.ID, migration.StatusComplete, 90*time.Second)
	require.Equal(t, "int(11)", f.d.ColumnType(t, "items", "k"), "the old shape is back")

	_, err = f.api.Revert(ctx, fwd.ID)
	require.ErrorIs(t, err, client.ErrConflict)
	v, err := f.api.Get(ctx, fwd.ID)
	require.NoError(t, err)
	require.NotNil(t, v.Revert)
	require.False(t, v.Revert.Open)
	require.Contains(t, v.Revert.Reason, "is gone", "the window says what closed it")
	rv, err := f.api.Get(ctx, rev.ID)
	require.NoError(t, err)
	require.NotNil(t, rv.Revert, "a completed revert is a gh-ost migration too")
}
