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
