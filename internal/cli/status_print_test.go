package cli

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/store"
)

// TestStatusShowsTheRevertWindow: `migrate status ID` of a completed gh-ost migration says whether
// it can be reverted, how, and until when, or what closed the window.
func TestStatusShowsTheRevertWindow(t *testing.T) {
	v := client.MigrationView{Migration: store.Migration{ID: "01M8T1Y5A72KN0SG36RP4PR3DH", Schema: "shop", Table: "orders",
		Strategy: "ghost", Status: migration.StatusComplete}}
	v.Revert = &runner.RevertWindow{OldTable: "_orders_20261202001942_del", Open: true,
		Since: time.Date(2026, 12, 2, 0, 19, 44, 0, time.UTC), Binlog: "binlog.000011:915869689"}
	var out bytes.Buffer
	require.NoError(t, writeDetail(&out, "text", v))
	require.Regexp(t, "revert +possible \\(`migrate revert 01M8T1Y5A72KN0SG36RP4PR3DH`\\): replays the writes made since .* \\(binlog binlog.000011:915869689\\)", out.String())
	require.Regexp(t, "kept table +_orders_20261202001942_del", out.String())

	v.Revert = &runner.RevertWindow{OldTable: "_orders_20261202001942_del", Reason: "the binlogs were purged past the cut-over's checkpoint"}
	out.Reset()
	require.NoError(t, writeDetail(&out, "text", v))
	require.Regexp(t, "revert +not possible: the binlogs were purged past the cut-over's checkpoint", out.String())
}
