package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/server"
)

// DDL the planner refuses answers 400 whatever the reason, decided by the planner's own error
// types (planner.IsRefusal), and nothing is created (issue 11; the store schema: issue 10).
func TestPlannerRefusalsAre400(t *testing.T) {
	f := newFixture(t, 20)
	f.d.Exec(t, "CREATE VIEW items_v AS SELECT * FROM items")
	for name, ddl := range map[string]string{
		"own store schema":            "ALTER TABLE `" + f.stName + "`.migrations DROP COLUMN ddl",
		"default store schema":        "ALTER TABLE _ghostgate.migrations DROP COLUMN ddl",
		"system schema":               "ALTER TABLE mysql.user ADD COLUMN x INT",
		"rename into a system schema": "RENAME TABLE items TO mysql.items",
		"algorithm copy":              "ALTER TABLE items ADD COLUMN x INT, ALGORITHM=COPY",
		"explicit instant refused":    "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0, ALGORITHM=INSTANT",
		"a view":                      "ALTER TABLE items_v ADD COLUMN x INT",
		"server rejects the clause":   "ALTER TABLE items ADD COLUMN",
	} {
		code, msg := f.raw(t, http.MethodPost, "/v1/migrations", "Bearer "+token, `{"ddl": "`+ddl+`", "schema": "`+f.d.Name+`"}`)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", name, msg)
		require.NotEmpty(t, msg)
	}
	list, err := f.api.List(context.Background())
	require.NoError(t, err)
	require.Empty(t, list)
}

// The API's plan carries the forecast of a gh-ost change when the controller samples write
// rates (serve --write-sample): here in the plans of a blocked request (409), which name the
// table's write rate and gh-ost's apply capacity.
func TestPlanForecastInTheAPI(t *testing.T) {
	f := newFixtureWith(t, 20, func(o *server.Options) { o.WriteSample = 500 * time.Millisecond })
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/migrations",
		strings.NewReader(`{"ddl": "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0, DROP COLUMN pad", "schema": "`+f.d.Name+`"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	body := string(raw)
	require.Equal(t, http.StatusConflict, resp.StatusCode, body)
	var e client.ErrorResponse
	require.NoError(t, json.Unmarshal(raw, &e), body)
	var plans []planner.Plan
	require.NoError(t, json.Unmarshal(e.Plans, &plans), string(e.Plans))
	require.Len(t, plans, 1)
	require.Equal(t, planner.StrategyGhost, plans[0].Strategy)
	require.NotNil(t, plans[0].Forecast, "the forecast is in the API's plan")
	require.Zero(t, plans[0].Forecast.WriteRowsPerSecond, "nothing writes items")
	require.Contains(t, body, `"apply_capacity_events_per_second"`)
}
