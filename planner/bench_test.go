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

// BenchmarkPlanInstant is the instant path end to end (reading the table, the probe, the plan) on
// a small table; BenchmarkPlanOffline the parsing and rules alone. Run them beside a baseline
// checkout for a ratio (BENCHMARKS.md), never as a timed test.
func BenchmarkPlanInstant(b *testing.B) {
	d := sandboxtest.New(b)
	seed(b, d, "small", 1000)
	p, err := New(d.Primary, Options{})
	require.NoError(b, err)
	for b.Loop() {
		plans, err := p.Plan(context.Background(), "ALTER TABLE small ADD COLUMN note VARCHAR(100)")
		if err != nil || plans[0].Strategy != StrategyInstant {
			b.Fatalf("unexpected plan: %v %+v", err, plans)
		}
	}
	requireNoClone(b, d)
}

func BenchmarkPlanOffline(b *testing.B) {
	p, err := NewOffline(fixture, Options{Server: "mariadb-10.11", Schema: "app"})
	require.NoError(b, err)
	const ddl = "ALTER TABLE users ADD COLUMN note TEXT, MODIFY name VARCHAR(100), ADD INDEX k_age (age); CREATE INDEX k2 ON parent (v)"
	for b.Loop() {
		if _, err := p.Plan(context.Background(), ddl); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlanNoProbe is the connected path without the probe's DDL (whose fsyncs dominate and
// vary most on a shared machine): reading the table, the facts, the plan.
func BenchmarkPlanNoProbe(b *testing.B) {
	d := sandboxtest.New(b)
	seed(b, d, "small", 1000)
	p, err := New(d.Primary, Options{NoProbe: true})
	require.NoError(b, err)
	for b.Loop() {
		if _, err := p.Plan(context.Background(), "ALTER TABLE small ADD COLUMN note VARCHAR(100)"); err != nil {
			b.Fatal(err)
		}
	}
}
