package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/internal/version"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner/throttle"
	"github.com/ghostgate/ghostgate/store"
)

const ghostDDL = "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0"

// TestInstantThenGhostWithManualApproval: an instant change completes at once; a gh-ost change
// with manual approval stops at the gate (status ready, the approval line failing) until it is
// approved through the API, then cuts over.
func TestInstantThenGhostWithManualApproval(t *testing.T) {
	f := newFixture(t, 3000)
	ctx := context.Background()

	inst := f.create(t, "ALTER TABLE items ADD COLUMN note VARCHAR(20) NULL", nil)
	require.Equal(t, "instant", inst.Strategy)
	f.waitStatus(t, inst.ID, migration.StatusComplete, 30*time.Second)
	require.Equal(t, "varchar(20)", f.d.ColumnType(t, "items", "note"))

	gh := f.create(t, ghostDDL, func(r *client.CreateRequest) { r.Approval = "manual" })
	require.Equal(t, "ghost", gh.Strategy)
	require.True(t, gh.Live)
	require.Equal(t, "manual", gh.Approval)
	ready := f.waitFor(t, gh.ID, 90*time.Second, "ready with a checklist", func(v client.MigrationView) bool {
		return v.Status == migration.StatusReady && v.Checklist != nil
	})
	// Held at the gate: approval is what it waits for, and it stays there.
	time.Sleep(time.Second)
	cl, err := f.api.Checklist(ctx, gh.ID)
	require.NoError(t, err)
	line, ok := cl.Line(cutover.LineApproval)
	require.True(t, ok, "approval line in %+v", cl.Lines)
	require.False(t, line.OK)
	require.False(t, cl.Open)
	v, err := f.api.Get(ctx, gh.ID)
	require.NoError(t, err)
	require.Equal(t, migration.StatusReady, v.Status, "the gate must hold a manual migration")
	require.Equal(t, "int(11)", f.d.ColumnType(t, "items", "k"))
	require.NotNil(t, ready.Throttle)

	_, err = f.api.Approve(ctx, gh.ID)
	require.NoError(t, err)
	done := f.waitStatus(t, gh.ID, migration.StatusComplete, 90*time.Second)
	require.False(t, done.Live)
	require.Equal(t, "bigint(20)", f.d.ColumnType(t, "items", "k"))

	evs, err := f.api.Events(ctx, gh.ID, 0, 0)
	require.NoError(t, err)
	kinds := eventKinds(evs.Events)
	assert.Positive(t, kinds[store.EventKind(cutover.EventApproval)], "approval recorded: %v", kinds)
	assert.Positive(t, kinds[store.EventKind(cutover.EventGateOpened)], "gate opening recorded: %v", kinds)
	require.Equal(t, evs.Events[len(evs.Events)-1].ID, evs.Next)

	// Following the log: nothing after Next, and a long poll returns empty after its wait.
	began := time.Now()
	more, err := f.api.Events(ctx, gh.ID, evs.Next, 300*time.Millisecond)
	require.NoError(t, err)
	require.Empty(t, more.Events)
	require.Equal(t, evs.Next, more.Next)
	require.GreaterOrEqual(t, time.Since(began), 300*time.Millisecond)

	list, err := f.api.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, gh.ID, list[0].ID, "newest first")
	require.Nil(t, list[0].Plan, "the list leaves plans out")
	got, err := f.api.Get(ctx, gh.ID)
	require.NoError(t, err)
	require.NotEmpty(t, got.Plan, "get has the plan")
	_, err = f.api.Approve(ctx, gh.ID)
	require.ErrorIs(t, err, client.ErrConflict, "an ended migration cannot be approved")
}

// TestPauseResumeCancel: a pause throttles the gh-ost run with reason manual; resume lifts it;
// cancel ends it cancelled with the original table intact and gh-ost's tables gone.
func TestPauseResumeCancel(t *testing.T) {
	f := newFixture(t, 5000)
	ctx := context.Background()
	before := f.count(t)

	v := f.create(t, ghostDDL, nil)
	_, err := f.api.Pause(ctx, v.ID)
	require.NoError(t, err)
	paused := f.waitFor(t, v.ID, 30*time.Second, "manual throttle", func(v client.MigrationView) bool {
		return v.Status == migration.StatusRunning && v.Throttle != nil && v.Throttle.Throttle && v.Throttle.Source == throttle.SourceManual
	})
	require.True(t, paused.Paused)
	require.Equal(t, migration.StatusRunning, paused.Status)
	require.EqualValues(t, 1000, paused.ChunkSize, "gh-ost's default chunk size, shown before a DBA changes it")
	// gh-ost itself obeys: it reports the throttle, and copies nothing while paused.
	f.waitFor(t, v.ID, 60*time.Second, "gh-ost reporting the throttle", func(v client.MigrationView) bool {
		return v.Progress != nil && v.Progress.Throttled && v.Progress.Phase == migration.PhaseCopying
	})
	resized, err := f.api.SetChunkSize(ctx, v.ID, 500)
	require.NoError(t, err)
	require.EqualValues(t, 500, resized.ChunkSize, "the view shows the size set")
	require.NotNil(t, resized.NiceRatio, "a live gh-ost run shows its nice ratio")
	require.Zero(t, *resized.NiceRatio, "the configured one: none")
	niced, err := f.api.SetNiceRatio(ctx, v.ID, 1.5)
	require.NoError(t, err)
	require.NotNil(t, niced.NiceRatio)
	require.Equal(t, 1.5, *niced.NiceRatio, "the view shows the ratio set")
	_, err = f.api.SetNiceRatio(ctx, v.ID, -1)
	require.ErrorIs(t, err, client.ErrBadRequest)
	code, msg := f.raw(t, http.MethodPost, "/v1/migrations/"+v.ID+"/nice-ratio", "Bearer "+token, `{}`)
	require.Equal(t, http.StatusBadRequest, code, msg)
	require.Contains(t, msg, "nice_ratio missing")
	time.Sleep(time.Second) // a chunk already under way when the throttle came may still land
	held, err := f.api.Get(ctx, v.ID)
	require.NoError(t, err)
	time.Sleep(1500 * time.Millisecond)
	still, err := f.api.Get(ctx, v.ID)
	require.NoError(t, err)
	require.Equal(t, held.Progress.RowsCopied, still.Progress.RowsCopied, "no rows copied while paused")
	require.Less(t, still.Progress.RowsCopied, before)

	_, err = f.api.Resume(ctx, v.ID)
	require.NoError(t, err)
	resumed := f.waitFor(t, v.ID, 30*time.Second, "manual throttle lifted", func(v client.MigrationView) bool {
		return v.Throttle != nil && v.Throttle.Source != throttle.SourceManual
	})
	require.False(t, resumed.Paused)
	// Copying goes on to the gate, where manual approval holds it.
	f.waitStatus(t, v.ID, migration.StatusReady, 90*time.Second)

	_, err = f.api.SetChunkSize(ctx, v.ID, 5)
	require.ErrorIs(t, err, client.ErrBadRequest)

	cancelled, err := f.api.Cancel(ctx, v.ID)
	require.NoError(t, err)
	require.Equal(t, migration.StatusCancelled, cancelled.Status)
	require.False(t, cancelled.Live)
	require.Equal(t, "int(11)", f.d.ColumnType(t, "items", "k"), "original table intact")
	require.Equal(t, before, f.count(t))
	require.Equal(t, []string{"items"}, f.d.Tables(t), "gh-ost tables dropped")

	evs, err := f.api.Events(ctx, v.ID, 0, 0)
	require.NoError(t, err)
	var notes, tunings []string
	for _, e := range evs.Events {
		switch e.Kind {
		case store.EventNote:
			notes = append(notes, e.Message)
		case store.EventTuning: // what a resumed run starts from
			tunings = append(tunings, e.Message)
		}
	}
	require.Len(t, notes, 4, "submit, pause, resume and cancel are recorded: %v", notes)
	require.Equal(t, "submitted by token api (127.0.0.1)", notes[0])
	require.Equal(t, "cancel requested by token api (127.0.0.1)", notes[3])
	require.Equal(t, []string{"chunk size set to 500 by token api (127.0.0.1)", "nice ratio set to 1.5 by token api (127.0.0.1)"}, tunings)
}

// TestAuthAndErrors: 401 without or with a wrong token and nothing created; 400 on malformed
// bodies; 404 on unknown ids; 409 for a blocked plan and for a second migration on a table.
func TestAuthAndErrors(t *testing.T) {
	f := newFixture(t, 200)
	ctx := context.Background()
	body := `{"ddl": "ALTER TABLE items ADD COLUMN x INT NULL", "schema": "` + f.d.Name + `"}`

	for _, auth := range []string{"", "Bearer wrong-token-0123456789", "Basic " + token, token} {
		code, msg := f.raw(t, http.MethodPost, "/v1/migrations", auth, body)
		require.Equal(t, http.StatusUnauthorized, code, "auth %q", auth)
		require.NotEmpty(t, msg)
	}
	_, err := f.anon.Create(ctx, client.CreateRequest{DDL: "ALTER TABLE items ADD COLUMN x INT NULL", Schema: f.d.Name})
	require.ErrorIs(t, err, client.ErrUnauthorized)
	list, err := f.anon.List(ctx) // reads are open on loopback
	require.NoError(t, err)
	require.Empty(t, list, "nothing was created by unauthorized calls")

	bad := map[string]string{
		"not json":      `{"ddl": `,
		"unknown field": `{"dll": "ALTER TABLE items ADD COLUMN x INT NULL"}`,
		"trailing":      body + `{}`,
		"empty ddl":     `{"ddl": " "}`,
		"bad approval":  `{"ddl": "ALTER TABLE items ADD COLUMN x INT NULL", "approval": "sometimes"}`,
		"bad duration":  `{"ddl": "ALTER TABLE items ADD COLUMN x INT NULL", "limits": {"max_transaction_age": "soon"}}`,
		"unparsable":    `{"ddl": "ALTER TABLE items ADD COLUMN", "schema": "` + f.d.Name + `"}`,
		"unknown table": `{"ddl": "ALTER TABLE nope ADD COLUMN x INT NULL", "schema": "` + f.d.Name + `"}`,
		"dml":           `{"ddl": "DELETE FROM items", "schema": "` + f.d.Name + `"}`,
	}
	for name, b := range bad {
		code, msg := f.raw(t, http.MethodPost, "/v1/migrations", "Bearer "+token, b)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", name, msg)
		require.NotEmpty(t, msg, name)
	}
	list, err = f.api.List(ctx)
	require.NoError(t, err)
	require.Empty(t, list, "nothing was created by malformed calls")

	const unknown = "01JZZZZZZZZZZZZZZZZZZZZZZZ"
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/v1/migrations/" + unknown}, {http.MethodGet, "/v1/migrations/nope"},
		{http.MethodPost, "/v1/migrations/" + unknown + "/pause"}, {http.MethodPost, "/v1/migrations/" + unknown + "/cancel"},
		{http.MethodGet, "/v1/migrations/" + unknown + "/events"}, {http.MethodGet, "/v1/migrations/" + unknown + "/checklist"},
		{http.MethodGet, "/v1/nothing"},
	} {
		code, msg := f.raw(t, c.method, c.path, "Bearer "+token, "")
		require.Equal(t, http.StatusNotFound, code, "%s %s: %s", c.method, c.path, msg)
	}
	code, _ := f.raw(t, http.MethodPost, "/v1/migrations/"+unknown+"/chunk-size", "Bearer "+token, `{"chunk_size": "many"}`)
	require.Equal(t, http.StatusBadRequest, code)

	// A blocked plan: 409 with the plans and their findings.
	_, err = f.api.Create(ctx, client.CreateRequest{DDL: "ALTER TABLE items DROP COLUMN c", Schema: f.d.Name})
	var apiErr *client.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusConflict, apiErr.StatusCode)
	require.Contains(t, string(apiErr.Plans), "destructive")
	require.Contains(t, apiErr.Message, "--allow-destructive")

	// The table is held by a gh-ost migration waiting at the gate: a second one is refused.
	first := f.create(t, ghostDDL, nil)
	_, err = f.api.Create(ctx, client.CreateRequest{DDL: "ALTER TABLE items ADD COLUMN y INT NULL", Schema: f.d.Name})
	require.ErrorIs(t, err, client.ErrConflict)
	require.ErrorAs(t, err, &apiErr)
	require.Contains(t, apiErr.Message, first.ID)

	// Unauthorized actions change nothing.
	code, _ = f.raw(t, http.MethodPost, "/v1/migrations/"+first.ID+"/cancel", "", "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = f.raw(t, http.MethodPost, "/v1/migrations/"+first.ID+"/pause", "Bearer "+token, "[not json")
	require.Equal(t, http.StatusBadRequest, code)
	v, err := f.api.Get(ctx, first.ID)
	require.NoError(t, err)
	require.True(t, v.Live)
	require.False(t, v.Paused)
	require.NotEqual(t, migration.StatusCancelled, v.Status)
	_, err = f.api.Cancel(ctx, first.ID)
	require.NoError(t, err)
}

// TestStream: the stream carries the status changes of a migration as server-sent events.
func TestStream(t *testing.T) {
	f := newFixture(t, 100)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := f.api.Stream(ctx, "")
	require.NoError(t, err)
	defer s.Close()

	v := f.create(t, "ALTER TABLE items ADD COLUMN note INT NULL", nil)
	var statuses []migration.Status
	var lastSeq int64
	for len(statuses) == 0 || !statuses[len(statuses)-1].Terminal() {
		ev, err := s.Next()
		require.NoError(t, err)
		require.Equal(t, v.ID, ev.MigrationID)
		require.Greater(t, ev.Seq, lastSeq)
		lastSeq = ev.Seq
		if ev.Kind == "status" {
			statuses = append(statuses, ev.Status)
		}
	}
	require.Equal(t, []migration.Status{migration.StatusPlanning, migration.StatusRunning, migration.StatusComplete}, statuses)

	_, err = f.api.Stream(ctx, "01JZZZZZZZZZZZZZZZZZZZZZZZ")
	require.ErrorIs(t, err, client.ErrNotFound)

	// Health and metrics are served.
	h, err := f.anon.Health(ctx)
	require.NoError(t, err)
	require.Equal(t, "ok", h.Status)
	require.Equal(t, version.Get().Version, h.Version, "the controller says which build it is")
	require.Equal(t, runtime.Version(), h.GoVersion)
	code, _ := f.raw(t, http.MethodGet, "/v1/participants", "", "")
	require.Equal(t, http.StatusOK, code)
	err = f.api.Evict(ctx, "no-such-instance")
	require.ErrorIs(t, err, client.ErrNotFound)
	code, _ = f.raw(t, http.MethodDelete, "/v1/participants/x", "Bearer wrong", "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = f.raw(t, http.MethodDelete, "/v1/participants/x", "", "")
	require.Equal(t, http.StatusUnauthorized, code, "a deregistration without a signature is refused")
}

// TestStreamEndsWithContext: closing the stream's context ends Next.
func TestStreamEndsWithContext(t *testing.T) {
	f := newFixture(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := f.api.Stream(ctx, "")
	require.NoError(t, err)
	defer s.Close()
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	_, err = s.Next()
	require.Error(t, err)
	require.True(t, errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "canceled"), "%v", err)
}

// TestParticipantsMounted: the wire endpoints are served (signed registration), the instances
// of a table show on its migrations, and the DBA evicts one with the token.
func TestParticipantsMounted(t *testing.T) {
	f := newFixture(t, 10)
	ctx := context.Background()
	reg := wire.Registration{Service: "shop", InstanceID: "shop-1", Tables: []string{f.d.Name + ".items"},
		Mode: wire.ModeHTTP, HookURL: "http://127.0.0.1:1/ghostgate/hook", Host: "app1"}
	body, err := json.Marshal(reg)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+wire.PathParticipants, bytes.NewReader(body))
	require.NoError(t, err)
	wire.Sign(req, body, secret, time.Now())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)

	unsigned, _ := f.raw(t, http.MethodPost, wire.PathParticipants, "Bearer "+token, string(body))
	require.Equal(t, http.StatusUnauthorized, unsigned, "the token does not replace the signature")

	ps, err := f.api.Participants(ctx)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	v := f.create(t, "ALTER TABLE items ADD COLUMN note INT NULL", nil)
	got, err := f.api.Get(ctx, v.ID)
	require.NoError(t, err)
	require.Len(t, got.Participants, 1)
	require.Equal(t, "shop-1", got.Participants[0].InstanceID)

	require.ErrorIs(t, f.anon.Evict(ctx, "shop-1"), client.ErrUnauthorized)
	require.NoError(t, f.api.Evict(ctx, "shop-1"))
	ps, err = f.api.Participants(ctx)
	require.NoError(t, err)
	require.Empty(t, ps)
}
