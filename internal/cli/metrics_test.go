package cli

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/metrics"
	"github.com/ghostgate/ghostgate/migration"
)

func TestServeMetrics(t *testing.T) {
	reg := metrics.NewRegistry()
	m := metrics.New(reg)
	l := metrics.Labels{Schema: "shop", Table: "orders", Strategy: "ghost"}
	m.Started(l)
	m.Observe(l, migration.Progress{Phase: migration.PhaseCopying, RowsCopied: 42, RowsEstimated: 84})

	addr, stop, err := serveMetrics("127.0.0.1:0", reg)
	require.NoError(t, err)
	defer stop()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `ghostgate_rows_copied_total{schema="shop",strategy="ghost",table="orders"} 42`)
	require.Contains(t, string(body), `ghostgate_progress_ratio{schema="shop",strategy="ghost",table="orders"} 0.5`)

	_, _, err = serveMetrics(addr, reg)
	require.Error(t, err, "the address is taken")
}
