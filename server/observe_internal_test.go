package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/metrics"
)

// TestObserveGateEvent: a participant failure is a warning of the log naming the issue, and is
// counted; other decisions are information.
func TestObserveGateEvent(t *testing.T) {
	var buf bytes.Buffer
	reg := prometheus.NewPedanticRegistry()
	c := &Controller{opts: Options{Log: slog.New(slog.NewJSONHandler(&buf, nil)), GateMetrics: metrics.NewGate(reg, nil)}}
	l := metrics.GateLabels{Schema: "shop", Table: "orders"}
	c.observeGateEvent(c.opts.GateMetrics, l, cutover.Event{MigrationID: "M1", Kind: cutover.EventParticipant, Message: "shop/shop-1@h (http): lease lapsed",
		Data: map[string]string{"instance_id": "shop-1", "issue": "lapsed"}})
	c.observeGateEvent(c.opts.GateMetrics, l, cutover.Event{MigrationID: "M1", Kind: cutover.EventApproval, Message: "cut-over approved by dba"})

	var lines []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(s), &m))
		lines = append(lines, m)
	}
	require.Len(t, lines, 2)
	require.Equal(t, "WARN", lines[0]["level"])
	require.Equal(t, "lapsed", lines[0]["issue"])
	require.Equal(t, "M1", lines[0]["migration"])
	require.Equal(t, "INFO", lines[1]["level"])
	require.Equal(t, "cut-over approved by dba", lines[1]["msg"])
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP ghostgate_participant_issues_total Participant failures the gate named: lapsed lease, not ready, no ack by the deadline.
# TYPE ghostgate_participant_issues_total counter
ghostgate_participant_issues_total{issue="lapsed",schema="shop",table="orders"} 1
`), "ghostgate_participant_issues_total"))
}
