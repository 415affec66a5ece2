package cutover

import (
	"encoding/json"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/store"
)

// syncLoop keeps a shared registry's memory in step with the state database, every
// SyncInterval, doing only what is needed (an idle controller asks nothing):
//   - while a gate waits here: read the fleet's registrations, and take the acks of the phases
//     this controller handed through the state database;
//   - while signal-mode instances are registered here: read the phases handed to them by other
//     controllers' gates and signal them; every idleSignalPoll while none was handed lately,
//     every SyncInterval for busySignalPoll after one was.
func (r *Registry) syncLoop() {
	t := time.NewTicker(r.cfg.SyncInterval)
	defer t.Stop()
	var nextSignals, busyUntil time.Time
	for {
		select {
		case <-r.bg.Done():
			return
		case <-t.C:
		case <-r.kick:
		}
		gates, handed, signals := r.syncNeeds()
		if gates {
			r.syncRegistrations()
		}
		if handed {
			r.takeAcks()
		}
		if now := r.now(); signals && !now.Before(nextSignals) {
			if r.signalHanded() {
				busyUntil = now.Add(busySignalPoll)
			}
			nextSignals = now.Add(idleSignalPoll)
			if now.Before(busyUntil) {
				nextSignals = now.Add(r.cfg.SyncInterval)
			}
		}
	}
}

// How often a controller with signal-mode instances registered looks for phases handed to
// them: a second while none was handed lately (its state database hears one query a second,
// not four, when no migration of the fleet is at a gate), every SyncInterval for a while once
// one was. The first prepare of a gate may so wait a second more to be signalled; when that
// makes its round miss the deadline, the next round (after RoundBackoff) is served fast.
const (
	idleSignalPoll = time.Second
	busySignalPoll = time.Minute
)

// syncNeeds says which of the loop's reads are needed now.
func (r *Registry) syncNeeds() (gates, handed, signals bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gates = len(r.gates) > 0
	for _, in := range r.instances {
		if in.remote {
			for _, d := range in.deliveries {
				handed = handed || (d.viaDB && !d.acked)
			}
		} else if in.reg.Mode == wire.ModeSignal {
			signals = true
		}
	}
	return gates, handed, signals
}

// syncRegistrations mirrors the fleet's registrations: another controller's instance is kept
// as a remote one (with what this controller delivered to it); a registration replaced under
// the same id (the instance restarted, or moved to another controller) starts afresh, as a
// replaced registration does; one the fleet no longer has is dropped.
func (r *Registry) syncRegistrations() {
	started := r.now()
	ctx, cancel := r.sharedCtx()
	rows, err := r.shared.Participants(ctx, r.cfg.ExpireAfter)
	cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.syncErr = err.Error()
		return
	}
	now := r.now()
	r.syncedAt, r.syncErr = now, ""
	seen := make(map[string]bool, len(rows))
	for _, row := range rows {
		seen[row.InstanceID] = true
		in, ok := r.instances[row.InstanceID]
		// Registered here after the read began: the row read may be the one it replaced.
		fresh := ok && !in.remote && !in.registered.Before(started)
		switch {
		case fresh:
		case ok && in.gen == row.Generation:
			expires := now.Add(row.LeaseLeft)
			if expires.After(in.expires) {
				// Renewed through another controller (behind a Service, any of them).
				in.expires, in.lastBeat = expires, expires.Add(-r.cfg.LeaseTTL)
				if len(row.Heartbeat) > 0 {
					_ = json.Unmarshal(row.Heartbeat, &in.beat)
				}
			}
		default:
			// Another controller's; or ours but not in memory: being registered right now (the
			// row is written first; the registration replaces this copy), or dropped here by
			// its lapsed lease in memory while its heartbeats went to other controllers.
			if nin, ok := r.remoteInstance(row, now); ok {
				r.instances[row.InstanceID] = nin
			}
		}
	}
	for id, in := range r.instances {
		if !seen[id] && (in.remote || in.registered.Before(started)) {
			delete(r.instances, id) // evicted, deregistered or dropped through another controller
		}
	}
}

// remoteInstance is the memory's copy of another controller's registration row.
func (r *Registry) remoteInstance(row store.ParticipantRecord, now time.Time) (*instance, bool) {
	var reg wire.Registration
	if json.Unmarshal(row.Registration, &reg) != nil || reg.Validate() != nil {
		return nil, false // not one this controller can deliver to; the gate cannot count it
	}
	expires := now.Add(row.LeaseLeft)
	in := &instance{reg: reg, registered: now, lastBeat: expires.Add(-r.cfg.LeaseTTL), expires: expires,
		deliveries: map[string]*delivery{}, remote: row.Controller != r.self, controller: row.Controller, gen: row.Generation}
	if len(row.Heartbeat) > 0 {
		_ = json.Unmarshal(row.Heartbeat, &in.beat)
	}
	if !in.remote && reg.Mode == wire.ModeSignal {
		// Ours to signal: bind the pid to the process that runs under it now. One that is gone
		// gets a start no process has, so that its pid, if reused, is never signalled.
		if start, err := procStart(reg.PID); err == nil {
			in.pidStart = start
		} else {
			in.pidStart = ^uint64(0)
		}
	}
	return in, true
}

// takeAcks applies the acks given (to any controller) to the phases this controller handed
// through the state database. TakeAcks returns each once; a delivery replaced meanwhile
// (another phase) ignores an ack that does not answer it.
func (r *Registry) takeAcks() {
	ctx, cancel := r.sharedCtx()
	acks, err := r.shared.TakeAcks(ctx)
	cancel()
	if err != nil {
		return // the next tick asks again; taken ones were returned
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range acks {
		var a wire.Ack
		if json.Unmarshal(p.Ack, &a) != nil {
			continue
		}
		in, ok := r.instances[p.InstanceID]
		if !ok {
			continue
		}
		if d, ok := in.deliveries[p.MigrationID]; ok && d.viaDB && d.req.Phase == a.Phase && !d.acked {
			d.acked, d.ack, d.err = true, a, ""
		}
	}
}

// signalHanded signals the instances registered here for the phases other controllers handed
// to them, and keeps those phases as pending deliveries (so that the heartbeat says "pending"
// and the instance's fetch and ack are served from memory, its ack recorded in the state
// database). A handed delivery no longer listed was acknowledged or replaced: it is done here.
// It reports whether any phase is handed here.
func (r *Registry) signalHanded() bool {
	ctx, cancel := r.sharedCtx()
	defer cancel()
	phases, err := r.shared.PhasesToSignal(ctx)
	if err != nil {
		return false
	}
	listed := map[string]bool{}
	type send struct {
		id, migration string
		attempt       int
		reg           wire.Registration
	}
	var sends []send
	now := r.now()
	r.mu.Lock()
	for _, p := range phases {
		in, ok := r.instances[p.InstanceID]
		if !ok || in.remote {
			continue
		}
		var req wire.PhaseRequest
		if json.Unmarshal(p.Request, &req) != nil {
			continue
		}
		listed[p.InstanceID+"/"+p.MigrationID] = true
		d, ok := in.deliveries[p.MigrationID]
		if !ok || !d.handed || d.req != req {
			in.deliveries[p.MigrationID] = &delivery{req: req, sentAt: now, handed: true}
		}
		if p.Signalled < p.Attempt {
			sends = append(sends, send{p.InstanceID, p.MigrationID, p.Attempt, in.reg})
		}
	}
	for id, in := range r.instances {
		for mid, d := range in.deliveries {
			if d.handed && !d.acked && !listed[id+"/"+mid] {
				d.acked = true
			}
		}
	}
	r.mu.Unlock()
	for _, s := range sends {
		err := r.signalTarget(s.id, s.reg.PID)
		if err == nil {
			err = r.cfg.Signal(s.reg.PID, s.reg.SignalName())
		}
		if err == nil {
			_ = r.shared.MarkSignalled(ctx, s.id, s.migration, s.attempt)
		}
	}
	return len(phases) > 0
}

// kickSync wakes the loop at once (a gate was entered: read the fleet's registrations now).
func (r *Registry) kickSync() {
	if r.kick == nil {
		return
	}
	select {
	case r.kick <- struct{}{}:
	default:
	}
}
