package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
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
