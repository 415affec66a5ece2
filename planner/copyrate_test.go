package planner

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// TestMeasuredCopyRate: a measured gh-ost copy rate replaces the built-in one in the estimate,
// and the finding says which one it used.
func TestMeasuredCopyRate(t *testing.T) {
	d := sandboxtest.New(t)
	d.Exec(t, dialectTable)
	plan := func(rate *CopyRate) *Plan {
		t.Helper()
		plans, err := connected(t, d, Options{GhostCopyRate: rate}).Plan(context.Background(), "ALTER TABLE t MODIFY n BIGINT NOT NULL")
		require.NoError(t, err)
		require.Equal(t, StrategyGhost, plans[0].Strategy)
		require.NotNil(t, plans[0].Size)
		require.NotNil(t, plans[0].EstimatedSeconds)
		return plans[0]
	}
	sizeMsg := func(p *Plan) string { return p.Findings[slices.Index(findingCodes(p), CodeTableSize)].Message }
	builtin := plan(nil)
	require.Contains(t, sizeMsg(builtin), "built-in rate: no gh-ost copy measured on this server yet")
	slow := plan(&CopyRate{RowsPerSecond: 50, Source: "the median of the last 3 gh-ost copies on this server"})
	require.InDelta(t, instantSeconds+float64(slow.Size.Rows)/50, *slow.EstimatedSeconds, 0.001)
	require.Contains(t, sizeMsg(slow), "50 rows/s, measured (the median of the last 3 gh-ost copies on this server)")
	_, err := New(d.Primary, Options{GhostCopyRate: &CopyRate{}})
	require.ErrorIs(t, err, ErrInvalidOptions)
}
