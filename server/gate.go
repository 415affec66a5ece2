package server

import (
	"context"
	"time"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/runner"
)

// Schema versions the participants hear when a request names none.
const (
	DefaultOldVersion = "v1"
	DefaultNewVersion = "v2"
)

// gateAdapter lets the runner drive a cutover.Gate: Await as it is, and Finish (the runner's
// Finisher) turned into the gate's commit-or-abort delivery, whose failure to reach every
// participant is recorded (the rename's outcome stands either way).
type gateAdapter struct {
	g *cutover.Gate
	c *Controller
}

var (
	_ runner.Gate     = gateAdapter{}
	_ runner.Finisher = gateAdapter{}
)

// Await blocks until the gate opens or ctx ends.
func (a gateAdapter) Await(ctx context.Context, t runner.Target) error { return a.g.Await(ctx, t) }

// Finish tells the participants commit (err nil) or abort.
func (a gateAdapter) Finish(ctx context.Context, t runner.Target, err error) {
	if ferr := a.g.Finish(ctx, err == nil); ferr != nil {
		a.c.note(ctx, t.MigrationID, "participants: "+ferr.Error())
	}
}

// gateConfig builds a migration's gate settings from the request over the controller's
// defaults. Every refusal is a *RequestError (400): nothing has been planned or started yet.
func (c *Controller) gateConfig(cl *Cluster, req client.CreateRequest) (cutover.Config, error) {
	d := c.opts.Gate
	loc := c.opts.Location
	if req.TimeZone != "" {
		l, err := time.LoadLocation(req.TimeZone)
		if err != nil {
			return cutover.Config{}, badRequest("time_zone %q: %v", req.TimeZone, err)
		}
		loc = l
	}
	mode := req.Approval
	if mode == "" {
		mode = d.Approval
	}
	approval, err := cutover.ParseApproval(mode, loc)
	if err != nil {
		return cutover.Config{}, &RequestError{Err: err}
	}
	lim := mergeLimits(d.Limits, req.Limits)
	checksum := d.Checksum
	if lim.Checksum != nil {
		checksum = *lim.Checksum
	}
	cfg := cutover.Config{
		Interval: d.Interval,
		Window: cutover.Window{MaxReplicaLag: time.Duration(lim.MaxReplicaLag), MaxThreadsRunning: lim.MaxThreadsRunning,
			MaxQPSRatio: lim.MaxQPSRatio, MaxBacklog: lim.MaxBacklog},
		Blockers:     cutover.Blockers{MaxTransactionAge: time.Duration(lim.MaxTransactionAge)},
		Checksum:     cutover.Checksum{Enabled: checksum},
		Participants: cutover.Participants{OldVersion: or(req.OldVersion, DefaultOldVersion), NewVersion: or(req.NewVersion, DefaultNewVersion)},
		Approval:     approval,
	}.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return cutover.Config{}, &RequestError{Err: err}
	}
	if cfg.Window.MaxReplicaLag > 0 && len(cl.Replicas) == 0 {
		return cutover.Config{}, badRequest("limits.max_replica_lag: the controller watches no replica")
	}
	return cfg, nil
}

// mergeLimits takes every non-zero field of over, the rest from base.
func mergeLimits(base, over client.Limits) client.Limits {
	if over.MaxReplicaLag != 0 {
		base.MaxReplicaLag = over.MaxReplicaLag
	}
	if over.MaxThreadsRunning != 0 {
		base.MaxThreadsRunning = over.MaxThreadsRunning
	}
	if over.MaxQPSRatio != 0 {
		base.MaxQPSRatio = over.MaxQPSRatio
	}
	if over.MaxBacklog != 0 {
		base.MaxBacklog = over.MaxBacklog
	}
	if over.MaxTransactionAge != 0 {
		base.MaxTransactionAge = over.MaxTransactionAge
	}
	if over.Checksum != nil {
		base.Checksum = over.Checksum
	}
	return base
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
