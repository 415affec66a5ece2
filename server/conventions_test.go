package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/server"
	"github.com/ghostgate/ghostgate/store"
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
	big := f.create(t, rebuild, func(r *client.CreateRequest) { r.RebuildMaxRows = 1_000_000; r.Approval = "manual" })
	assert.Equal(t, "inplace", big.Strategy)
	f.waitStatus(t, big.ID, migration.StatusComplete, 30*time.Second)
	evs, err := f.api.Events(context.Background(), big.ID, 0, 0)
	require.NoError(t, err)
	var said bool
	for _, e := range evs.Events {
		said = said || e.Message == "not applied: approval manual (an inplace ALTER has no cut-over gate)"
	}
	assert.True(t, said, "a gate setting that cannot apply is said, not silently dropped: %+v", evs.Events)
	code, msg := f.raw(t, http.MethodPost, "/v1/migrations", "Bearer "+token,
		`{"ddl": "`+rebuild+`", "schema": "`+f.d.Name+`", "rebuild_max_rows": -1}`)
	assert.Equal(t, http.StatusBadRequest, code, msg)
}

// rawResp sends a request and returns the response and its body.
func rawResp(t *testing.T, method, url string, header map[string]string, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

// TestErrorCodesMethodsLocation: every error has a machine-readable code and no package prefix;
// a path served for other methods answers 405 with Allow; a create answers 201 with Location;
// JSON is not HTML-escaped; lists are objects.
func TestErrorCodesMethodsLocation(t *testing.T) {
	f := newFixture(t, 50)
	auth := map[string]string{"Authorization": "Bearer " + token}
	decode := func(b []byte) client.ErrorResponse {
		var er client.ErrorResponse
		require.NoError(t, json.Unmarshal(b, &er), string(b))
		return er
	}

	resp, b := rawResp(t, http.MethodPost, f.srv.URL+"/v1/migrations", auth,
		`{"ddl": "ALTER TABLE items ADD COLUMN c1 INT NULL COMMENT 'a<b & c>d'", "schema": "`+f.d.Name+`"}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(b))
	var created client.MigrationsResponse
	require.NoError(t, json.Unmarshal(b, &created))
	require.Len(t, created.Migrations, 1)
	id := created.Migrations[0].ID
	assert.Equal(t, "/v1/migrations/"+id, resp.Header.Get("Location"))
	assert.Contains(t, string(b), `'a<b & c>d'`, "no HTML escaping")
	f.waitStatus(t, id, migration.StatusComplete, 30*time.Second)
	other := f.create(t, "ALTER TABLE items ADD COLUMN c2 INT NULL", nil) // shares id's first characters
	f.waitStatus(t, other.ID, migration.StatusComplete, 30*time.Second)

	for _, c := range []struct {
		method, path string
		allow        string
	}{
		{http.MethodDelete, "/v1/migrations", "GET, POST, HEAD"},
		{http.MethodPut, "/v1/migrations/" + id, "GET, HEAD"},
		{http.MethodGet, "/v1/migrations/" + id + "/pause", "POST"},
	} {
		resp, b := rawResp(t, c.method, f.srv.URL+c.path, auth, "")
		require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "%s %s: %s", c.method, c.path, b)
		assert.Equal(t, c.allow, resp.Header.Get("Allow"), c.path)
		er := decode(b)
		assert.Equal(t, client.CodeMethodNotAllowed, er.Code)
		assert.Contains(t, er.Error, "allowed: "+c.allow)
	}

	for _, c := range []struct {
		method, path, body string
		header             map[string]string
		status             int
		code, text         string
	}{
		{http.MethodGet, "/v1/nothing", "", nil, 404, client.CodeNotFound, "no such endpoint"},
		{http.MethodGet, "/v1/migrations/01JZZZZZZZZZZZZZZZZZZZZZZZ", "", nil, 404, client.CodeNotFound, `migration not found: "01JZZZZZZZZZZZZZZZZZZZZZZZ"`},
		{http.MethodPost, "/v1/migrations", `{"ddl": "x"}`, nil, 401, client.CodeUnauthorized, "missing or wrong bearer token"},
		{http.MethodPost, "/v1/migrations", `{"ddl": `, auth, 400, client.CodeBadRequest, "malformed JSON body"},
		{http.MethodPost, "/v1/migrations", `{"ddl": "UPDATE items SET k = 1", "schema": "` + f.d.Name + `"}`, auth, 400, client.CodeRefused, "UPDATE changes rows"},
		{http.MethodPost, "/v1/migrations", `{"ddl": "ALTER TABLE items DROP COLUMN c1", "schema": "` + f.d.Name + `"}`, auth, 409, client.CodeBlocked, "blocked by findings"},
		{http.MethodPost, "/v1/migrations/" + id + "/pause", "", auth, 409, client.CodeNotLive, "has ended"},
		{http.MethodPost, "/v1/migrations/" + id[:4] + "/pause", "", auth, 400, client.CodeAmbiguousID, other.ID},
	} {
		resp, b := rawResp(t, c.method, f.srv.URL+c.path, c.header, c.body)
		require.Equal(t, c.status, resp.StatusCode, "%s %s: %s", c.method, c.path, b)
		er := decode(b)
		assert.Equal(t, c.code, er.Code, c.path)
		assert.Contains(t, er.Error, c.text, c.path)
		for _, pkg := range []string{"store:", "server:", "planner:", "runner:", "cutover:"} {
			assert.NotContains(t, er.Error, pkg, "no package prefix: %s", er.Error)
		}
	}
	// One list shape: participants too are an object naming its items.
	resp, b = rawResp(t, http.MethodGet, f.srv.URL+"/v1/participants", nil, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	assert.JSONEq(t, `{"participants": []}`, string(b))
}

// TestActorOnEveryAction: the event log names who acted: the actor the client gives (--as),
// the token's name, the address; named tokens are told apart.
func TestActorOnEveryAction(t *testing.T) {
	f := newFixture(t, 2000)
	ctx := context.Background()
	h, err := server.NewHandler(f.ctrl, server.HandlerOptions{Tokens: []server.Token{
		{Name: "ops", Secret: "ops-token-0123456789"}, {Name: "ci", Secret: "ci-token-0123456789ab"}}, OpenReads: true})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ops, err := client.New(srv.URL, "ops-token-0123456789", nil)
	require.NoError(t, err)
	ci, err := client.New(srv.URL, "ci-token-0123456789ab", nil)
	require.NoError(t, err)

	views, err := ci.Create(ctx, client.CreateRequest{DDL: ghostDDL, Schema: f.d.Name})
	require.NoError(t, err)
	id := views[0].ID
	_, err = ops.WithActor("alice@bastion").Pause(ctx, id)
	require.NoError(t, err)
	_, err = ops.Cancel(ctx, id)
	require.NoError(t, err)
	_, err = client.New(srv.URL, token, nil) // the fixture's token is not one of these
	require.NoError(t, err)
	_, err = f.api.WithActor("x").Pause(ctx, id)
	require.Error(t, err)

	evs, err := f.api.Events(ctx, id, 0, 0)
	require.NoError(t, err)
	var notes []string
	for _, e := range evs.Events {
		if e.Kind == store.EventNote {
			notes = append(notes, e.Message)
		}
	}
	require.Equal(t, []string{
		"submitted by token ci (127.0.0.1)",
		"paused by alice@bastion (token ops, 127.0.0.1)",
		"cancel requested by token ops (127.0.0.1)",
	}, notes)

	_, err = server.NewHandler(f.ctrl, server.HandlerOptions{Tokens: []server.Token{{Name: "a", Secret: "short"}}})
	require.ErrorContains(t, err, "at least 16 characters")
	_, err = server.NewHandler(f.ctrl, server.HandlerOptions{Tokens: []server.Token{
		{Name: "a", Secret: "0123456789abcdef"}, {Name: "a", Secret: "0123456789abcdeg"}}})
	require.ErrorContains(t, err, `two API tokens are named "a"`)
}

// TestStreamResume: a client that reconnects with Last-Event-ID gets the events it missed,
// then the live ones; an id this controller never sent gets a gap event first.
func TestStreamResume(t *testing.T) {
	f := newFixture(t, 50)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := f.api.Stream(ctx, "")
	require.NoError(t, err)
	v := f.create(t, "ALTER TABLE items ADD COLUMN r1 INT NULL", nil)
	var seen []client.StreamEvent
	for len(seen) == 0 || !(seen[len(seen)-1].Kind == "status" && seen[len(seen)-1].Status.Terminal()) {
		ev, err := s.Next()
		require.NoError(t, err)
		seen = append(seen, ev)
	}
	require.NoError(t, s.Close())
	require.GreaterOrEqual(t, len(seen), 3)

	resumed, err := f.api.StreamAfter(ctx, v.ID[len(v.ID)-8:], seen[0].Seq)
	require.NoError(t, err)
	defer resumed.Close()
	for _, want := range seen[1:] {
		ev, err := resumed.Next()
		require.NoError(t, err)
		assert.Equal(t, want.Seq, ev.Seq)
		assert.Equal(t, want.Kind, ev.Kind)
	}

	gap, err := f.api.StreamAfter(ctx, "", seen[len(seen)-1].Seq+1000)
	require.NoError(t, err)
	defer gap.Close()
	ev, err := gap.Next()
	require.NoError(t, err)
	assert.Equal(t, client.KindGap, ev.Kind)
	assert.Contains(t, ev.Reason, "read the event log")

	resp, b := rawResp(t, http.MethodGet, f.srv.URL+"/v1/stream", map[string]string{"Last-Event-ID": "soon"}, "")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, string(b))
}
