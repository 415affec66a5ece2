package cutover

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/store"
)

// SharedRegistry is the state database's side of a registry that the controllers of a fleet
// share (RegistryConfig.Shared): *store.Store implements it. With it, a participant may
// register, heartbeat and ack with any controller, and the gate of a migration sees the
// participants of the whole fleet:
//
//   - every registration and heartbeat is written to the state database (one write per call);
//     the instances registered here stay in memory too, so a single controller decides from
//     memory as before;
//   - a controller whose gates are waiting reads the fleet's registrations every SyncInterval
//     and mirrors those of other controllers: an HTTP-mode instance is called at its hook by
//     the gate directly (the hook's address is in the registration);
//   - a signal-mode instance can only be signalled from its own host: the gate hands its phase
//     to the controller it registered with through the state database; that controller signals
//     it, serves its pending phase and records its ack, which the gate takes back (once);
//   - an ack posted to any controller for a phase handed through the state database is
//     recorded there, never in the memory of a controller that did not send it.
type SharedRegistry interface {
	ControllerID() string
	RegisterParticipant(ctx context.Context, rec store.ParticipantRecord, ttl time.Duration, maxN int, expireAfter time.Duration) error
	BeatParticipant(ctx context.Context, id string, heartbeat []byte, ttl time.Duration) (bool, error)
	RemoveParticipant(ctx context.Context, id string, generation int64, lapsedOnly bool) (bool, error)
	Participants(ctx context.Context, expireAfter time.Duration) ([]store.ParticipantRecord, error)
	Participant(ctx context.Context, id string) (store.ParticipantRecord, bool, error)
	PostPhase(ctx context.Context, p store.PhaseRecord) error
	PhasesToSignal(ctx context.Context) ([]store.PhaseRecord, error)
	MarkSignalled(ctx context.Context, instance, migrationID string, attempt int) error
	PendingPhase(ctx context.Context, instance string) (store.PhaseRecord, bool, error)
	AckPhase(ctx context.Context, instance, migrationID, phase string, ack []byte) (bool, error)
	TakeAcks(ctx context.Context) ([]store.PhaseRecord, error)
	MigrationOwner(ctx context.Context, id string) (string, bool, error)
}

var _ SharedRegistry = (*store.Store)(nil)

// sharedTimeout bounds one call to the state database made for a participant's request.
const sharedTimeout = 5 * time.Second

func (r *Registry) sharedCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.bg, sharedTimeout)
}

func newGeneration() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.BigEndian.Uint64(b[:])>>1) | 1 // positive, never 0
}

// shareRegistration writes a registration to the state database before it is kept in memory
// (the sync below relies on that order). It returns the registration's generation.
func (r *Registry) shareRegistration(reg wire.Registration) (int64, error) {
	if r.shared == nil {
		return 0, nil
	}
	body, err := json.Marshal(reg)
	if err != nil {
		return 0, fmt.Errorf("cutover: encode registration: %w", err)
	}
	gen := newGeneration()
	ctx, cancel := r.sharedCtx()
	defer cancel()
	err = r.shared.RegisterParticipant(ctx, store.ParticipantRecord{InstanceID: reg.InstanceID, Generation: gen, Registration: body},
		r.cfg.LeaseTTL, r.cfg.MaxInstances, r.cfg.ExpireAfter)
	if errors.Is(err, store.ErrTooManyParticipants) {
		return 0, fmt.Errorf("%w: %w; lapsed ones are dropped %s after their lease ends, or evict some", ErrTooManyInstances, err, r.cfg.ExpireAfter)
	}
	if err != nil {
		return 0, fmt.Errorf("cutover: %w", err)
	}
	return gen, nil
}

// shareHeartbeat renews the lease in the state database; found is false when the fleet no
// longer knows the instance (evicted through another controller).
func (r *Registry) shareHeartbeat(id string, hb wire.Heartbeat) (bool, error) {
	body, err := json.Marshal(hb)
	if err != nil {
		return false, fmt.Errorf("cutover: encode heartbeat: %w", err)
	}
	ctx, cancel := r.sharedCtx()
	defer cancel()
	return r.shared.BeatParticipant(ctx, id, body, r.cfg.LeaseTTL)
}

// remoteHeartbeat serves the heartbeat of an instance registered with another controller (or
// with this one's predecessor: a restarted controller): the fleet's lease is renewed, and the
// instance is kept here as a remote one, so that a prepare no gate waits for any more is
// aborted, as for the instances registered here. A signal-mode instance is told to register
// again (404): it reached a controller on its own host, the one that should signal it.
func (r *Registry) remoteHeartbeat(id string, hb wire.Heartbeat) (wire.RegistrationResponse, error) {
	ctx, cancel := r.sharedCtx()
	row, found, err := r.shared.Participant(ctx, id)
	cancel()
	if err != nil {
		return wire.RegistrationResponse{}, fmt.Errorf("cutover: %w", err)
	}
	now := r.now()
	in, ok := r.remoteInstance(row, now)
	switch {
	case !found || !ok:
		return wire.RegistrationResponse{}, fmt.Errorf("%w: %q", ErrUnknownInstance, id)
	case in.reg.Mode == wire.ModeSignal:
		return wire.RegistrationResponse{}, fmt.Errorf("%w: %q is registered with controller %s: register with this one, on the instance's host",
			ErrUnknownInstance, id, row.Controller)
	}
	if found, err = r.shareHeartbeat(id, hb); err != nil {
		return wire.RegistrationResponse{}, fmt.Errorf("cutover: %w", err)
	} else if !found {
		return wire.RegistrationResponse{}, fmt.Errorf("%w: %q", ErrUnknownInstance, id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.instances[id]; ok && cur.gen == in.gen {
		in = cur
	} else {
		r.instances[id] = in // dropped by the sync or expire once its lease lapses
	}
	in.lastBeat, in.expires, in.beat = now, now.Add(r.cfg.LeaseTTL), hb
	// The figures stay in this controller's memory (health.go): a throttler on another one
	// does not see them.
	r.health.record(in.reg.Service, id, in.reg.Tables, hb.Health, now)
	r.abortStale(in, hb, now)
	return wire.RegistrationResponse{InstanceID: id, LeaseTTLMillis: r.cfg.LeaseTTL.Milliseconds(),
		HeartbeatMillis: r.cfg.HeartbeatInterval.Milliseconds(), LeaseExpires: in.expires,
		HealthMillis: r.health.pushInterval(in.reg.Tables).Milliseconds()}, nil
}

// sharedPending is the phase handed through the state database to id, for an instance that
// asks a controller other than the one holding the delivery.
func (r *Registry) sharedPending(id string) (wire.PhaseRequest, bool, error) {
	ctx, cancel := r.sharedCtx()
	defer cancel()
	p, ok, err := r.shared.PendingPhase(ctx, id)
	if err != nil || !ok {
		if err == nil {
			var known bool
			if _, known, err = r.shared.Participant(ctx, id); err == nil && !known {
				err = fmt.Errorf("%w: %q", ErrUnknownInstance, id)
			}
		}
		return wire.PhaseRequest{}, false, err
	}
	var req wire.PhaseRequest
	if err := json.Unmarshal(p.Request, &req); err != nil {
		return req, false, fmt.Errorf("cutover: handed phase of %s: %w", id, err)
	}
	return req, true, nil
}

// sharedAck records an ack in the state database, where the gate that handed the phase takes it.
func (r *Registry) sharedAck(a wire.Ack) error {
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("cutover: encode ack: %w", err)
	}
	ctx, cancel := r.sharedCtx()
	defer cancel()
	_, err = r.shared.AckPhase(ctx, a.InstanceID, a.MigrationID, string(a.Phase), body)
	if errors.Is(err, store.ErrPhaseNotPending) {
		return fmt.Errorf("%w: %s %s to %s", ErrNotPending, a.MigrationID, a.Phase, a.InstanceID)
	}
	return err
}

// handPhase hands req for a signal-mode instance registered with controller to it.
func (r *Registry) handPhase(ctx context.Context, id, controller string, req wire.PhaseRequest) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("cutover: encode phase request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	return r.shared.PostPhase(ctx, store.PhaseRecord{InstanceID: id, MigrationID: req.MigrationID, Controller: controller,
		Phase: string(req.Phase), Attempt: req.Attempt, Request: body})
}

// gateElsewhere reports whether another live controller owns migrationID, so that its gate,
// not this controller, decides what a prepared instance hears (an error counts as yes: the
// instance's own hold ends its prepare anyway). A migration that ended, or whose owner is gone
// (interrupted: a controller was killed), or that this controller owns but has no gate for,
// leaves a prepared instance stale.
func (r *Registry) gateElsewhere(migrationID string) bool {
	ctx, cancel := r.sharedCtx()
	defer cancel()
	owner, live, err := r.shared.MigrationOwner(ctx, migrationID)
	return err != nil || (live && owner != r.self)
}

// fleetStale says why the fleet's registrations are not known well enough for a gate to count
// its participants ("" when they are): none read since the gate was entered, or the last read
// is older than a few intervals. A gate must never open without the instances registered with
// other controllers only because it has not read them yet.
func (r *Registry) fleetStale() string {
	if r.shared == nil {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	limit := max(4*r.cfg.SyncInterval, 2*time.Second)
	switch {
	case r.syncedAt.IsZero() || r.syncedAt.Before(r.gateEntered):
		return "the fleet's registrations are not read yet" + errSuffix(r.syncErr)
	case r.now().Sub(r.syncedAt) > limit:
		return fmt.Sprintf("the fleet's registrations were last read %s ago%s", r.now().Sub(r.syncedAt).Round(time.Second), errSuffix(r.syncErr))
	}
	return ""
}

// fleetParticipants lists the fleet's registrations from the state database (one when id is
// set), with what this controller delivered to each; ok is false without a shared registry or
// when the state database does not answer (the caller shows its memory instead).
func (r *Registry) fleetParticipants(id string) ([]wire.ParticipantStatus, bool) {
	if r.shared == nil {
		return nil, false
	}
	ctx, cancel := r.sharedCtx()
	defer cancel()
	var rows []store.ParticipantRecord
	var err error
	if id == "" {
		rows, err = r.shared.Participants(ctx, r.cfg.ExpireAfter)
	} else {
		var row store.ParticipantRecord
		var found bool
		if row, found, err = r.shared.Participant(ctx, id); found {
			rows = append(rows, row)
		}
	}
	if err != nil {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	out := make([]wire.ParticipantStatus, 0, len(rows))
	for _, row := range rows {
		in, ok := r.instances[row.InstanceID]
		if !ok || in.gen != row.Generation {
			if in, ok = r.remoteInstance(row, now); !ok {
				continue
			}
		}
		s := r.status(in, now)
		// The lease as the state database has it: renewed through whichever controller.
		s.LeaseExpiry = now.Add(row.LeaseLeft)
		s.LastBeat = s.LeaseExpiry.Add(-r.cfg.LeaseTTL)
		s.Live, s.Controller = row.LeaseLeft > 0, row.Controller
		out = append(out, s)
	}
	return out, true
}
