package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/migration"
)

// Tests of the API's conventions (issue 13, "CLI and API conventions").

// TestShortIDs: every endpoint that takes a migration id takes a unique prefix or suffix of it
// in any case; an ambiguous one is a 400 that lists the candidates.
func TestShortIDs(t *testing.T) {
	f := newFixture(t, 50)
	ctx := context.Background()
	a := f.create(t, "ALTER TABLE items ADD COLUMN n1 INT NULL", nil)
	f.waitStatus(t, a.ID, migration.StatusComplete, 30*time.Second)
	b := f.create(t, "ALTER TABLE items ADD COLUMN n2 INT NULL", nil)
	f.waitStatus(t, b.ID, migration.StatusComplete, 30*time.Second)

	short := strings.ToLower(b.ID[len(b.ID)-8:])
	v, err := f.api.Get(ctx, short)
	require.NoError(t, err)
	assert.Equal(t, b.ID, v.ID, "a lower-case suffix, as the TUI shows it")
	v, err = f.api.Get(ctx, b.ID[:24])
	require.NoError(t, err)
	assert.Equal(t, b.ID, v.ID, "a prefix")
	evs, err := f.api.Events(ctx, short, 0, 0)
	require.NoError(t, err)
	require.NotEmpty(t, evs.Events)
	assert.Equal(t, b.ID, evs.Events[0].MigrationID)
	_, err = f.api.Checklist(ctx, short)
	require.NoError(t, err)
	_, err = f.api.Pause(ctx, short)
	require.ErrorIs(t, err, client.ErrConflict, "resolved, then refused because it ended (not a 404)")

	code, msg := f.raw(t, http.MethodGet, "/v1/migrations/"+a.ID[:3], "", "")
	require.Equal(t, http.StatusBadRequest, code, msg)
	assert.Contains(t, msg, "ambiguous")
	assert.Contains(t, msg, a.ID)
	assert.Contains(t, msg, b.ID)
	code, msg = f.raw(t, http.MethodGet, "/v1/migrations/ZZZZZZZZ", "", "")
	require.Equal(t, http.StatusNotFound, code, msg)
	assert.Contains(t, msg, `no migration id starts or ends with "ZZZZZZZZ"`)
}

// TestListFiltersNewestFirst: the list is newest first, and status, table and limit are
// applied by the server; an unknown parameter or status is a 400, never silently ignored.
func TestListFiltersNewestFirst(t *testing.T) {
	f := newFixture(t, 50)
	ctx := context.Background()
	var ids []string
	for _, c := range []string{"l1", "l2", "l3"} {
		v := f.create(t, "ALTER TABLE items ADD COLUMN "+c+" INT NULL", nil)
		f.waitStatus(t, v.ID, migration.StatusComplete, 30*time.Second)
		ids = append(ids, v.ID)
	}
	list, err := f.api.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 3)
	assert.Equal(t, []string{ids[2], ids[1], ids[0]}, []string{list[0].ID, list[1].ID, list[2].ID}, "newest first")

	one, err := f.api.ListWith(ctx, client.ListOptions{Limit: 1})
	require.NoError(t, err)
	require.Len(t, one, 1)
	assert.Equal(t, ids[2], one[0].ID, "the limit keeps the newest")
	for _, table := range []string{"items", f.d.Name + ".items"} {
		got, err := f.api.ListWith(ctx, client.ListOptions{Table: table, Status: []migration.Status{migration.StatusComplete}})
		require.NoError(t, err)
		assert.Len(t, got, 3, table)
	}
	none, err := f.api.ListWith(ctx, client.ListOptions{Status: []migration.Status{migration.StatusRunning, migration.StatusFailed}})
	require.NoError(t, err)
	assert.Empty(t, none, "?status= is applied")
	none, err = f.api.ListWith(ctx, client.ListOptions{Table: "other.items"})
	require.NoError(t, err)
	assert.Empty(t, none)

	for q, want := range map[string]string{
		"?status=done":   `status "done": want one of queued, planning, running`,
		"?state=running": `unknown query parameter "state"`,
		"?limit=-1":      `limit "-1"`,
	} {
		code, msg := f.raw(t, http.MethodGet, "/v1/migrations"+q, "", "")
		assert.Equal(t, http.StatusBadRequest, code, q)
		assert.Contains(t, msg, want, q)
	}
}

// TestWorkerLog: GET /v1/migrations/{id}/log serves the gh-ost worker's log (all of it, its
// tail, or what follows an offset); a native migration has none (404 saying why).
func TestWorkerLog(t *testing.T) {
	f := newFixture(t, 500)
	ctx := context.Background()
	v := f.create(t, ghostDDL, nil)
	f.waitStatus(t, v.ID, migration.StatusReady, 90*time.Second)
	_, err := f.api.Cancel(ctx, v.ID)
	require.NoError(t, err)

	all, next, err := f.api.WorkerLog(ctx, v.ID[len(v.ID)-8:], 0, 0)
	require.NoError(t, err)
	require.NotEmpty(t, all)
	assert.EqualValues(t, len(all), next)
	assert.Contains(t, string(all), "gh-ost", "gh-ost's own log lines")
	tail, _, err := f.api.WorkerLog(ctx, v.ID, 0, 2)
	require.NoError(t, err)
	assert.Equal(t, 2, strings.Count(strings.TrimSuffix(string(tail), "\n"), "\n")+1, "two lines: %q", tail)
	assert.True(t, strings.HasSuffix(string(all), string(tail)))
	more, again, err := f.api.WorkerLog(ctx, v.ID, next, 0)
	require.NoError(t, err)
	assert.Empty(t, more, "nothing after the end")
	assert.Equal(t, next, again)
	half, _, err := f.api.WorkerLog(ctx, v.ID, next/2, 0)
	require.NoError(t, err)
	assert.Equal(t, string(all[next/2:]), string(half))

	n := f.create(t, "ALTER TABLE items ADD COLUMN n1 INT NULL", nil)
	f.waitStatus(t, n.ID, migration.StatusComplete, 30*time.Second)
	_, _, err = f.api.WorkerLog(ctx, n.ID, 0, 0)
	require.ErrorIs(t, err, client.ErrNotFound)
	assert.Contains(t, err.Error(), "an instant ALTER runs without a gh-ost worker")
	code, msg := f.raw(t, http.MethodGet, "/v1/migrations/"+v.ID+"/log?tail=0", "", "")
	assert.Equal(t, http.StatusBadRequest, code, msg)
}

// TestRebuildMaxRowsTakesEffect: the request's rebuild_max_rows reaches the planner (issue 13:
// it was accepted by submit and dropped): above it a rebuilding INPLACE change goes to gh-ost.
func TestRebuildMaxRowsTakesEffect(t *testing.T) {
	f := newFixture(t, 3000)
	const rebuild = "ALTER TABLE items MODIFY k INT NULL DEFAULT 0" // NULL-ability: an INPLACE rebuild
	small := f.create(t, rebuild, func(r *client.CreateRequest) { r.RebuildMaxRows = 10 })
	assert.Equal(t, "ghost", small.Strategy, "3000 rows > 10: gh-ost")
	_, err := f.api.Cancel(context.Background(), small.ID)
	require.NoError(t, err)
	big := f.create(t, rebuild, func(r *client.CreateRequest) { r.RebuildMaxRows = 1_000_000 })
	assert.Equal(t, "inplace", big.Strategy)
	f.waitStatus(t, big.ID, migration.StatusComplete, 30*time.Second)
	code, msg := f.raw(t, http.MethodPost, "/v1/migrations", "Bearer "+token,
		`{"ddl": "`+rebuild+`", "schema": "`+f.d.Name+`", "rebuild_max_rows": -1}`)
	assert.Equal(t, http.StatusBadRequest, code, msg)
}
