package cli

import (
	"math"
	"time"

	"github.com/spf13/pflag"

	"github.com/ghostgate/ghostgate/runner/throttle"
)

// ServiceHealthOptions are serve's flags of the throttle on the services' own health (issue 12).
// `migrate run` has no participants (they register with `migrate serve`), so it has no such
// flags.
type ServiceHealthOptions struct {
	Factor       float64
	MinP99       time.Duration
	MinErrorRate float64
	MinRequests  int64
	Baseline     time.Duration
	Stale        time.Duration
}

func addServiceHealthFlags(fs *pflag.FlagSet, o *ServiceHealthOptions) {
	d := throttle.ServiceHealth{}.WithDefaults()
	fs.Float64Var(&o.Factor, "service-health-factor", 0, "hold a gh-ost copy while an instance of a service that uses the table "+
		"(a graybox participant that records its requests) has a p99 latency or an error rate above this many times "+
		"its service's own figures from before the migration started, e.g. 3; 0: off. The reason names the service, the figure and the instance (docs/throttling.md)")
	fs.DurationVar(&o.MinP99, "service-health-min-p99", d.MinP99, "with --service-health-factor: never hold the copy for a p99 below this, "+
		"however low the service's baseline (a 2ms service is not held at 6ms)")
	fs.Float64Var(&o.MinErrorRate, "service-health-min-error-rate", d.MinErrorRate, "with --service-health-factor: never hold the copy "+
		"for an error rate below this fraction (0.01 is 1%)")
	fs.Int64Var(&o.MinRequests, "service-health-min-requests", d.MinRequests, "with --service-health-factor: the fewest requests a report "+
		"(and the baseline) must count to be trusted; a p99 of three requests is noise")
	fs.DurationVar(&o.Baseline, "service-health-baseline", d.BaselineWindow, "with --service-health-factor: the baseline is the services' "+
		"reports of this long before the migration started (at most 10m); a service with none there is not watched, and the event log says so")
	fs.DurationVar(&o.Stale, "service-health-stale", d.StaleAfter, "with --service-health-factor: an instance silent this long no longer "+
		"holds the copy (the event log names it), so a dead instance cannot hold a migration for ever")
}

// config checks the flags, naming the flag and the value that cannot work, and returns the
// throttle's settings.
func (o ServiceHealthOptions) config() (throttle.ServiceHealth, error) {
	switch {
	case math.IsNaN(o.Factor) || (o.Factor != 0 && o.Factor < 1):
		return throttle.ServiceHealth{}, usageErrorf("--service-health-factor %g: want 0 (off) or at least 1 (below 1 the copy is held at the service's usual figures)", o.Factor)
	case o.MinP99 <= 0:
		return throttle.ServiceHealth{}, usageErrorf("--service-health-min-p99 %v: must be positive", o.MinP99)
	case math.IsNaN(o.MinErrorRate) || o.MinErrorRate <= 0 || o.MinErrorRate > 1:
		return throttle.ServiceHealth{}, usageErrorf("--service-health-min-error-rate %g: want a fraction above 0 and at most 1 (0.01 is 1%%)", o.MinErrorRate)
	case o.MinRequests < 1:
		return throttle.ServiceHealth{}, usageErrorf("--service-health-min-requests %d: must be at least 1", o.MinRequests)
	case o.Baseline < time.Second || o.Baseline > throttle.MaxBaselineWindow:
		return throttle.ServiceHealth{}, usageErrorf("--service-health-baseline %v: want between 1s and %v", o.Baseline, throttle.MaxBaselineWindow)
	case o.Stale < 100*time.Millisecond:
		return throttle.ServiceHealth{}, usageErrorf("--service-health-stale %v: want at least 100ms (reports come every 250ms while a migration runs)", o.Stale)
	}
	return throttle.ServiceHealth{Factor: o.Factor, MinP99: o.MinP99, MinErrorRate: o.MinErrorRate, MinRequests: o.MinRequests,
		BaselineWindow: o.Baseline, StaleAfter: o.Stale}, nil
}
