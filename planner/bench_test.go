package planner

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// BenchmarkPlanProbe1M plans an ADD COLUMN and an ADD INDEX, probe included, against a seeded
// 1,000,000-row table (target: well under a second per plan) and checks that no clone is left.
func BenchmarkPlanProbe1M(b *testing.B) {
	d := sandboxtest.New(b)
	seed(b, d, "big", 1_000_000)
	d.Exec(b, "ANALYZE TABLE big")
	d.WaitReplica(b) // the replica applies the bulk load; do not time it
	p, err := New(d.Primary, Options{})
	require.NoError(b, err)
	for _, bc := range []struct {
		name, ddl string
		want      Strategy
	}{
		{"add_column", "ALTER TABLE big ADD COLUMN note VARCHAR(100)", StrategyInstant},
		{"add_index", "ALTER TABLE big ADD INDEX ia (a)", StrategyInplace},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				plans, err := p.Plan(context.Background(), bc.ddl)
				if err != nil {
					b.Fatal(err)
				}
				if plans[0].Strategy != bc.want || plans[0].Probe == nil || plans[0].Size.Rows < 900_000 {
					b.Fatalf("unexpected plan: %+v", plans[0])
				}
			}
			requireNoClone(b, d)
		})
	}
}
