package planner

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixedRate is a write-rate source with a given answer: the rules of the forecast are tested
// here without a server (internal/writerate measures real rates on the sandbox).
type fixedRate struct {
	rate float64
	err  error
}

func (f fixedRate) WriteRate(context.Context, string, string) (WriteRate, error) {
	return WriteRate{RowsPerSecond: f.rate, Source: "fixed"}, f.err
}

func forecastPlan(t *testing.T, src WriteRateSource, capacity *ApplyCapacity, ddl string) *Plan {
	t.Helper()
	p, err := NewOffline(fixture, Options{Schema: "app", Server: "mariadb-10.11", WriteRates: src, ApplyCapacity: capacity})
	require.NoError(t, err)
	plans, err := p.Plan(context.Background(), ddl)
	require.NoError(t, err)
	require.Len(t, plans, 1)
	return plans[0]
}

func writeRateFinding(t *testing.T, p *Plan) Finding {
	t.Helper()
	for _, f := range p.Findings {
		if f.Code == CodeWriteRate {
			return f
		}
	}
	t.Fatalf("no %s finding: %+v", CodeWriteRate, p.Findings)
	return Finding{}
}

func TestForecast(t *testing.T) {
	const ghostDDL = "ALTER TABLE users MODIFY age BIGINT"
	capacity := &ApplyCapacity{EventsPerSecond: 1000, Source: "measured"}
	tests := []struct {
		name     string
		rate     float64
		severity Severity
		starves  bool
		text     string
	}{
		{"quiet", 0, "", false, ""},
		{"half", 500, "", false, ""},
		{"above 80%", 850, SeverityWarning, false, "takes about 6.7× as long"},
		{"above capacity", 1200, SeverityWarning, true, "never finish"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := forecastPlan(t, fixedRate{rate: tt.rate}, capacity, ghostDDL)
			require.Equal(t, StrategyGhost, p.Strategy)
			require.NotNil(t, p.Forecast)
			assert.Equal(t, tt.rate, p.Forecast.WriteRowsPerSecond)
			assert.Equal(t, 1000.0, p.Forecast.ApplyCapacity)
			assert.InDelta(t, tt.rate/1000, p.Forecast.Utilization, 1e-9)
			assert.Equal(t, tt.starves, p.Forecast.Starves)
			if tt.severity == "" {
				for _, f := range p.Findings {
					assert.NotEqual(t, CodeWriteRate, f.Code, "the copy keeps up: no finding")
				}
			} else {
				f := writeRateFinding(t, p)
				assert.Equal(t, tt.severity, f.Severity)
				assert.Contains(t, f.Message, tt.text)
			}
			assert.False(t, p.Blocked)
			var out bytes.Buffer
			require.NoError(t, WriteText(&out, []*Plan{p}))
			assert.Contains(t, out.String(), "  writes")
		})
	}
}

func TestForecastFallbackAndErrors(t *testing.T) {
	p := forecastPlan(t, fixedRate{rate: 10}, nil, "ALTER TABLE users MODIFY age BIGINT")
	assert.Equal(t, float64(BuiltinApplyCapacity), p.Forecast.ApplyCapacity)
	assert.Contains(t, p.Forecast.CapacitySource, "built-in figure")

	p = forecastPlan(t, fixedRate{err: errors.New("no REPLICATION SLAVE privilege")}, nil, "ALTER TABLE users MODIFY age BIGINT")
	assert.Nil(t, p.Forecast)
	f := writeRateFinding(t, p)
	assert.Equal(t, SeverityInfo, f.Severity)
	assert.Contains(t, f.Message, "no REPLICATION SLAVE privilege")

	// Only gh-ost plans are forecast: a native change does not replay the binlog.
	p = forecastPlan(t, fixedRate{rate: 1e6}, nil, "ALTER TABLE users ADD COLUMN note TEXT")
	assert.Nil(t, p.Forecast)
	for _, f := range p.Findings {
		assert.NotEqual(t, CodeWriteRate, f.Code)
	}

	require.Error(t, Options{ApplyCapacity: &ApplyCapacity{}}.Validate())
}
