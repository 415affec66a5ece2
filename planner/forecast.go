package planner

import (
	"context"
	"fmt"
)

// CodeWriteRate is the finding that compares the table's write rate with gh-ost's apply capacity.
const CodeWriteRate = "ghost_write_rate"

// WriteRateWarnRatio is the share of the apply loop's capacity above which the write rate is a
// warning: the copy then gets a fifth of the loop's time or less, and a burst stops it.
const WriteRateWarnRatio = 0.8

// BuiltinApplyCapacity is the apply capacity assumed when none was measured on this server: what
// gh-ost v1.1.10's apply loop applied a second on the development sandbox (MariaDB 10.11, 2
// shared cores) while events waited for it, during copies under 1500 foreground operations a
// second (1.6–2.1k events/s; 10–20k with the box otherwise idle), rounded down: a table written
// hard enough to matter is written while the server is busy (BENCHMARKS.md, "Apply batch"). A
// real server's depends on its disks, row width and replicas; the first gh-ost run here
// measures it.
const BuiltinApplyCapacity = 1500

// WriteRateSource measures a table's write rate at plan time (internal/writerate tails the
// binlog for a second).
type WriteRateSource interface {
	WriteRate(ctx context.Context, schema, table string) (WriteRate, error)
}

// WriteRate is a table's measured rate of row events.
type WriteRate struct {
	RowsPerSecond float64
	// Source says how it was measured, e.g. "binlog tailed for 1.0 s".
	Source string
}

// ApplyCapacity is how many binlog events a second gh-ost's apply loop applies while events wait
// for it, as measured on this server (store.ReadApplyCapacity).
type ApplyCapacity struct {
	EventsPerSecond float64
	Source          string
}

// Forecast is what a gh-ost plan expects of the table's writes during the copy.
type Forecast struct {
	// WriteRowsPerSecond is the table's rate of row events now, WriteSource how it was measured.
	WriteRowsPerSecond float64 `json:"write_rows_per_second"`
	WriteSource        string  `json:"write_source"`
	// ApplyCapacity is what gh-ost's apply loop applies a second, CapacitySource where the
	// figure comes from (measured here, or the built-in one).
	ApplyCapacity  float64 `json:"apply_capacity_events_per_second"`
	CapacitySource string  `json:"capacity_source"`
	// Utilization is WriteRowsPerSecond over ApplyCapacity: the share of the apply loop's time
	// the table's writes take, which the copy does not get.
	Utilization float64 `json:"utilization"`
	// Starves is set when the writes would take all of it: the copy would never finish.
	Starves bool `json:"starves"`
}

// slowdown is how much longer the copy takes with the writes taking the loop's time: gh-ost
// applies queued events before each chunk, so the copy runs in the remaining 1-u of the time.
func (f *Forecast) slowdown() float64 {
	if f == nil || f.Utilization <= 0 || f.Starves {
		return 1
	}
	return 1 / (1 - f.Utilization)
}

// forecast measures the table's write rate for a gh-ost plan and compares it with the apply
// capacity. The finding is a warning above WriteRateWarnRatio and nil below it; when the rate
// could not be measured the forecast is nil and the finding says why.
func (p *Planner) forecast(ctx context.Context, plan *Plan) (*Forecast, *Finding) {
	src := p.opts.WriteRates
	if src == nil || plan.Strategy != StrategyGhost {
		return nil, nil
	}
	wr, err := src.WriteRate(ctx, plan.Schema, plan.Table)
	if err != nil {
		return nil, &Finding{Code: CodeWriteRate, Severity: SeverityInfo,
			Message: "the table's write rate was not measured (" + err.Error() + "): whether gh-ost's apply loop keeps up with its writes is unknown"}
	}
	f := &Forecast{WriteRowsPerSecond: wr.RowsPerSecond, WriteSource: wr.Source,
		ApplyCapacity: BuiltinApplyCapacity, CapacitySource: "the built-in figure of the development sandbox: no gh-ost run on this server has measured it yet"}
	if c := p.opts.ApplyCapacity; c != nil && c.EventsPerSecond > 0 {
		f.ApplyCapacity, f.CapacitySource = c.EventsPerSecond, c.Source
	}
	f.Utilization = f.WriteRowsPerSecond / f.ApplyCapacity
	f.Starves = f.Utilization >= 1
	name := qualified(plan.Schema, plan.Table)
	rates := fmt.Sprintf("%s is written at %s rows/s (%s); gh-ost's apply loop applies %s events/s (%s)",
		name, humanRate(f.WriteRowsPerSecond), f.WriteSource, humanRate(f.ApplyCapacity), f.CapacitySource)
	switch {
	case f.Starves:
		return f, &Finding{Code: CodeWriteRate, Severity: SeverityWarning, Message: fmt.Sprintf(
			"%s: the writes need %.0f%% of it. gh-ost applies the table's writes before it copies another chunk, so the copy would starve and never finish (gh-ost issues #751, #1150). "+
				"Run the change when the table is written less (off-peak, batch jobs paused) and check again with plan", rates, 100*f.Utilization)}
	case f.Utilization > WriteRateWarnRatio:
		return f, &Finding{Code: CodeWriteRate, Severity: SeverityWarning, Message: fmt.Sprintf(
			"%s: the writes need %.0f%% of it, so the copy gets %.0f%% of gh-ost's time and takes about %.1f× as long, and a burst of writes stops it (gh-ost issues #751, #1150). "+
				"Prefer a time when the table is written less, or pause its batch writers during the copy", rates, 100*f.Utilization, 100*(1-f.Utilization), f.slowdown())}
	}
	return f, nil // the copy keeps up: the figures are in Plan.Forecast (the text's "writes" line)
}
