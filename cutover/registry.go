package cutover

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
)

// Registry errors callers branch on (the API maps them to status codes).
var (
	// ErrUnknownInstance: no registration under that instance id (404).
	ErrUnknownInstance = errors.New("cutover: unknown instance")
	// ErrNotPending: an ack that answers no phase delivered to the instance (409).
	ErrNotPending = errors.New("cutover: no such phase pending for the instance")
	// ErrTooManyInstances: the registry holds MaxInstances registrations (429).
	ErrTooManyInstances = errors.New("cutover: too many registered instances")
)

// RegistryConfig configures a Registry, an immutable value.
type RegistryConfig struct {
	// Secret is the shared secret of the participant protocol (wire.MinSecretBytes at least).
	Secret []byte
	// LeaseTTL is how long a registration lives without a heartbeat. Default 15s.
	LeaseTTL time.Duration
	// HeartbeatInterval is the interval suggested to participants. Default LeaseTTL/3.
	HeartbeatInterval time.Duration
	// HookNetworks are the networks hooks may be reached on (checked at registration for an
	// address and at every dial after name resolution). Default DefaultHookNetworks.
	HookNetworks []netip.Prefix
	// HTTPClient delivers phases to hooks. Default: a private transport that dials only into
	// HookNetworks (closed by Close). Redirects are never followed, whichever client.
	HTTPClient *http.Client
	// Signal sends a signal by name ("SIGUSR2") to a pid. Default: kill(2).
	Signal func(pid int, name string) error
	// MaxInstances bounds the registrations; one more is refused with ErrTooManyInstances.
	// Default 1000.
	MaxInstances int
	// ExpireAfter is how long a lapsed registration is kept (and shown) before it is dropped.
	// Default 10m.
	ExpireAfter time.Duration
	// Shared, when set, shares the registrations with the other controllers of a fleet
	// through the state database (see SharedRegistry); nil keeps them in this process only.
	Shared SharedRegistry
	// SyncInterval is how often a shared registry reads the state database while it needs to
	// (see Registry.syncLoop). Default 250ms: a phase handed through the state database
	// waits up to one interval to be signalled and its ack one more to be taken, within a
	// prepare round (PrepareTimeout, 2s by default).
	SyncInterval time.Duration
}

// Validate checks the configuration.
func (c RegistryConfig) Validate() error {
	var errs []error
	if len(c.Secret) < wire.MinSecretBytes {
		errs = append(errs, fmt.Errorf("secret must be at least %d bytes", wire.MinSecretBytes))
	}
	if c.LeaseTTL < 0 || c.HeartbeatInterval < 0 || c.ExpireAfter < 0 || c.MaxInstances < 0 || c.SyncInterval < 0 {
		errs = append(errs, errors.New("lease ttl, heartbeat interval, expire after, max instances and sync interval must not be negative"))
	}
	if c.LeaseTTL > 0 && c.HeartbeatInterval >= c.LeaseTTL {
		errs = append(errs, fmt.Errorf("heartbeat interval %v must be shorter than the lease ttl %v", c.HeartbeatInterval, c.LeaseTTL))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: registry: %w", ErrConfig, err)
	}
	return nil
}

// delivery is one phase of one migration sent to one instance.
type delivery struct {
	req      wire.PhaseRequest
	round    int // the gate's prepare round it belongs to (0: commit, or abort at the end)
	sentAt   time.Time
	inflight bool // an HTTP POST is under way
	acked    bool
	ack      wire.Ack
	err      string // the last delivery failure
	viaDB    bool   // sent to a remote signal-mode instance through the state database
	handed   bool   // handed to this controller by another one's gate (its ack goes to the state database)
}

type instance struct {
	reg        wire.Registration
	registered time.Time
	lastBeat   time.Time
	expires    time.Time
	beat       wire.Heartbeat
	deliveries map[string]*delivery // by migration id
	pidStart   uint64               // signal mode: the start time of the verified pid
	// A shared registry's fields: remote is a registration with another controller (named by
	// controller), mirrored from the state database; gen tells one registration from the next.
	remote     bool
	controller string
	gen        int64
}

func (in *instance) live(now time.Time) bool { return now.Before(in.expires) }

// pending is the oldest unacknowledged delivery of a signal-mode instance.
func (in *instance) pending() (*delivery, bool) {
	var out *delivery
	for _, d := range in.deliveries {
		if !d.acked && (out == nil || d.sentAt.Before(out.sentAt)) {
			out = d
		}
	}
	return out, out != nil
}

// Registry holds the service instances that take part in cut-overs: their leased
// registrations and the phases delivered to them. One Registry serves every migration of a
// controller (`migrate serve`); the API endpoints of the protocol are its Handler. A lapsed
// instance stays registered, and named on the checklist, until it heartbeats again,
// re-registers, deregisters, or the DBA evicts it. Safe for concurrent use.
type Registry struct {
	cfg      RegistryConfig
	hooks    hookPolicy
	verifier *wire.Verifier
	client   *http.Client
	own      bool
	now      func() time.Time

	// bg bounds the deliveries the registry starts itself (aborts of stale prepares); Close
	// ends them and waits.
	bg     context.Context
	stopBg context.CancelFunc
	wg     sync.WaitGroup

	// A shared registry's: this controller's id, and the loop's wake-up.
	shared SharedRegistry
	self   string
	kick   chan struct{}

	mu          sync.Mutex
	instances   map[string]*instance
	gates       map[string]int // migration id → gates awaiting or cutting it over
	gateEntered time.Time      // when a gate was last entered
	syncedAt    time.Time      // when the fleet's registrations were last read
	syncErr     string         // why the last read failed

	health *healthBook // the participants' request figures (health.go)
}

// NewRegistry returns an empty Registry.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 15 * time.Second
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = cfg.LeaseTTL / 3
	}
	if cfg.MaxInstances == 0 {
		cfg.MaxInstances = 1000
	}
	if cfg.ExpireAfter == 0 {
		cfg.ExpireAfter = 10 * time.Minute
	}
	if len(cfg.HookNetworks) == 0 {
		cfg.HookNetworks = DefaultHookNetworks
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = 250 * time.Millisecond
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v, err := wire.NewVerifier(wire.VerifierConfig{Secret: cfg.Secret})
	if err != nil {
		return nil, fmt.Errorf("cutover: registry: %w", err)
	}
	r := &Registry{cfg: cfg, verifier: v, client: cfg.HTTPClient, now: time.Now, instances: map[string]*instance{}, gates: map[string]int{},
		health: newHealthBook()}
	r.bg, r.stopBg = context.WithCancel(context.Background())
	r.cfg.Secret = append([]byte(nil), cfg.Secret...)
	r.hooks = hookPolicy{nets: slices.Clone(cfg.HookNetworks)}
	if r.client == nil {
		// A private transport: its idle connections end with the registry (Close) instead of
		// living in the process-wide pool.
		r.client, r.own = r.hooks.hookClient(), true
	} else {
		c := *r.client
		c.CheckRedirect = noRedirect
		r.client = &c
	}
	if r.cfg.Signal == nil {
		r.cfg.Signal = sendSignal
	}
	if cfg.Shared != nil {
		r.shared, r.self, r.kick = cfg.Shared, cfg.Shared.ControllerID(), make(chan struct{}, 1)
		r.wg.Go(r.syncLoop)
	}
	return r, nil
}

// Close ends the deliveries the registry started itself and releases its idle HTTP connections.
func (r *Registry) Close() {
	r.stopBg()
	r.wg.Wait()
	if r.own {
		r.client.CloseIdleConnections()
	}
}

func (r *Registry) response(in *instance) wire.RegistrationResponse {
	_, pending := in.pending()
	return wire.RegistrationResponse{
		InstanceID: in.reg.InstanceID, LeaseTTLMillis: r.cfg.LeaseTTL.Milliseconds(),
		HeartbeatMillis: r.cfg.HeartbeatInterval.Milliseconds(), LeaseExpires: in.expires, Pending: pending,
		HealthMillis: r.health.pushInterval(in.reg.Tables).Milliseconds(),
	}
}

// Register adds or replaces a registration and starts its lease. A replaced registration is a
// new process under the same id: what was delivered to the old one is forgotten, so the gate
// delivers again (participants answer re-deliveries idempotently). The caller vouches for a
// signal-mode pid; the API's handler binds it to the registering process first (peerPID).
func (r *Registry) Register(reg wire.Registration) (wire.RegistrationResponse, error) {
	var start uint64
	if reg.Mode == wire.ModeSignal && reg.PID > 0 {
		start, _ = procStart(reg.PID)
	}
	return r.register(reg, start)
}

func (r *Registry) register(reg wire.Registration, pidStart uint64) (wire.RegistrationResponse, error) {
	if err := reg.Validate(); err != nil {
		return wire.RegistrationResponse{}, err
	}
	if reg.Mode == wire.ModeHTTP {
		if err := r.hooks.checkURL(reg.HookURL); err != nil {
			return wire.RegistrationResponse{}, fmt.Errorf("%w: %w", wire.ErrInvalid, err)
		}
	}
	reg.Tables = slices.Clone(reg.Tables)
	// Shared first, then kept here: the bound is the fleet's, and the sync relies on the order.
	gen, err := r.shareRegistration(reg)
	if err != nil {
		return wire.RegistrationResponse{}, err
	}
	now := r.now()
	in := &instance{reg: reg, registered: now, lastBeat: now, expires: now.Add(r.cfg.LeaseTTL),
		deliveries: map[string]*delivery{}, pidStart: pidStart, controller: r.self, gen: gen}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(now)
	if _, ok := r.instances[reg.InstanceID]; !ok && len(r.instances) >= r.cfg.MaxInstances && r.shared == nil {
		return wire.RegistrationResponse{}, fmt.Errorf("%w: %d registered, the most this controller keeps; lapsed ones are dropped %s after their lease ends, or evict some",
			ErrTooManyInstances, len(r.instances), r.cfg.ExpireAfter)
	}
	r.instances[reg.InstanceID] = in
	return r.response(in), nil
}

// expire drops registrations lapsed for longer than ExpireAfter. Called with r.mu held.
func (r *Registry) expire(now time.Time) {
	for id, in := range r.instances {
		if now.Sub(in.expires) > r.cfg.ExpireAfter {
			delete(r.instances, id)
		}
	}
}

// signalTarget returns what to signal for instance id: its pid, refused when the process under
// that pid is not the one that registered (it ended and the pid was reused).
func (r *Registry) signalTarget(id string, pid int) error {
	r.mu.Lock()
	in, ok := r.instances[id]
	r.mu.Unlock()
	if !ok || in.pidStart == 0 {
		return nil
	}
	if start, err := procStart(pid); err != nil || start != in.pidStart {
		return fmt.Errorf("cutover: pid %d is no longer the process that registered as %s", pid, id)
	}
	return nil
}

// Heartbeat renews the lease of instance id (also a lapsed one: it is alive after all).
func (r *Registry) Heartbeat(id string, hb wire.Heartbeat) (wire.RegistrationResponse, error) {
	if hb.InstanceID != "" && hb.InstanceID != id {
		return wire.RegistrationResponse{}, fmt.Errorf("%w: heartbeat for %q sent to %q", wire.ErrInvalid, hb.InstanceID, id)
	}
	r.mu.Lock()
	in, ok := r.instances[id]
	local := ok && !in.remote
	r.mu.Unlock()
	if r.shared != nil {
		if !local {
			return r.remoteHeartbeat(id, hb)
		}
		// One write per heartbeat, so that the other controllers' gates see the lease. When the
		// state database does not answer, the lease is renewed here anyway: this controller's
		// own gates go on deciding from memory, as a single controller does.
		if found, err := r.shareHeartbeat(id, hb); err == nil && !found {
			r.mu.Lock()
			if cur, ok := r.instances[id]; ok && cur == in {
				delete(r.instances, id) // evicted through another controller: register again
			}
			r.mu.Unlock()
			return wire.RegistrationResponse{}, fmt.Errorf("%w: %q (evicted in the fleet)", ErrUnknownInstance, id)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	in, ok = r.instances[id]
	if !ok {
		return wire.RegistrationResponse{}, fmt.Errorf("%w: %q", ErrUnknownInstance, id)
	}
	now := r.now()
	in.lastBeat, in.expires, in.beat = now, now.Add(r.cfg.LeaseTTL), hb
	r.health.record(in.reg.Service, id, in.reg.Tables, hb.Health, now)
	r.abortStale(in, hb, now)
	return r.response(in), nil
}

// enterGate and leaveGate bracket the time a gate of migrationID may have instances prepared:
// from Await to Finish (or Await's failure).
func (r *Registry) enterGate(migrationID string) {
	r.mu.Lock()
	r.gates[migrationID]++
	r.gateEntered = r.now()
	r.mu.Unlock()
	r.kickSync()
}

func (r *Registry) leaveGate(migrationID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gates[migrationID]--; r.gates[migrationID] <= 0 {
		delete(r.gates, migrationID)
	}
}

// abortStale sends abort to an instance that says it is prepared for a migration no gate of
// this controller is at: the controller restarted (and forgot its deliveries), or the gate
// ended while the instance was unreachable. Called with r.mu held. Issue 10: a restarted
// controller must not leave a service shedding writes.
func (r *Registry) abortStale(in *instance, hb wire.Heartbeat, now time.Time) {
	if hb.Phase != wire.PhasePrepare || hb.MigrationID == "" || r.gates[hb.MigrationID] > 0 {
		return
	}
	if d, ok := in.deliveries[hb.MigrationID]; ok && d.req.Phase == wire.PhaseAbort && d.round == -1 && (d.inflight || now.Sub(d.sentAt) < time.Second) {
		return // already on its way
	}
	schema, table, ok := strings.Cut(hb.Table, ".")
	if !ok || hb.OldVersion == "" || hb.NewVersion == "" || hb.OldVersion == hb.NewVersion {
		return // an older participant: its own hold ends the prepare
	}
	req := wire.PhaseRequest{MigrationID: hb.MigrationID, Schema: schema, Table: table, Phase: wire.PhaseAbort,
		OldVersion: hb.OldVersion, NewVersion: hb.NewVersion, Attempt: 1, Deadline: now.Add(10 * time.Second)}
	id := in.reg.InstanceID
	r.wg.Go(func() {
		// In a fleet the gate of the migration may be another controller's: only a migration
		// that ended leaves a prepared instance stale.
		if r.shared != nil && r.gateElsewhere(hb.MigrationID) {
			return
		}
		r.deliver(r.bg, id, req, -1)
	})
}

// Evict removes instance id: its own deregistration, or the DBA's decision that a dead
// instance must not hold the gate closed any longer.
func (r *Registry) Evict(id string) error {
	removed := false
	if r.shared != nil {
		ctx, cancel := r.sharedCtx()
		var err error
		removed, err = r.shared.RemoveParticipant(ctx, id, 0, false)
		cancel()
		if err != nil {
			return fmt.Errorf("cutover: %w", err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.instances[id]; !ok && !removed {
		return fmt.Errorf("%w: %q", ErrUnknownInstance, id)
	}
	delete(r.instances, id)
	return nil
}

// evictIf removes instance id only when its lease still expires at expires (it did not
// heartbeat meanwhile): the gate's policy eviction of a lapsed instance.
func (r *Registry) evictIf(id string, expires time.Time) error {
	r.mu.Lock()
	in, ok := r.instances[id]
	same := ok && in.expires.Equal(expires)
	r.mu.Unlock()
	if !same {
		return fmt.Errorf("%w: %q (renewed or gone)", ErrUnknownInstance, id)
	}
	if r.shared != nil {
		// Only the lapsed registration: one renewed through another controller meanwhile stays.
		ctx, cancel := r.sharedCtx()
		removed, err := r.shared.RemoveParticipant(ctx, id, in.gen, true)
		cancel()
		if err != nil || !removed {
			return fmt.Errorf("%w: %q (renewed in the fleet, or gone)", ErrUnknownInstance, id)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.instances[id]; !ok || cur != in || !in.expires.Equal(expires) {
		return fmt.Errorf("%w: %q (renewed or gone)", ErrUnknownInstance, id)
	}
	delete(r.instances, id)
	return nil
}

func (r *Registry) status(in *instance, now time.Time) wire.ParticipantStatus {
	s := wire.ParticipantStatus{
		Service: in.reg.Service, InstanceID: in.reg.InstanceID, Host: in.reg.Host, Mode: in.reg.Mode,
		Tables: slices.Clone(in.reg.Tables), LastBeat: in.lastBeat, LeaseExpiry: in.expires, Live: in.live(now),
		Controller: in.controller,
	}
	var last *delivery
	for _, d := range in.deliveries {
		if last == nil || d.sentAt.After(last.sentAt) {
			last = d
		}
	}
	if last != nil {
		s.MigrationID, s.Phase, s.Acked = last.req.MigrationID, last.req.Phase, last.acked
		s.Ready, s.Message = last.ack.Ready, last.ack.Message
		if !last.acked {
			s.Message = last.err
		}
	}
	return s
}

// Participants lists every registration, by instance id: in a fleet (RegistryConfig.Shared),
// every controller's, read from the state database, with what this controller delivered to
// them (from memory when the state database does not answer).
func (r *Registry) Participants() []wire.ParticipantStatus {
	if out, ok := r.fleetParticipants(""); ok {
		return out
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.expire(now)
	out := make([]wire.ParticipantStatus, 0, len(r.instances))
	for _, in := range r.instances {
		out = append(out, r.status(in, now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].InstanceID < out[j].InstanceID })
	return out
}

// Participant returns one registration.
func (r *Registry) Participant(id string) (wire.ParticipantStatus, error) {
	if out, ok := r.fleetParticipants(id); ok {
		if len(out) == 0 {
			return wire.ParticipantStatus{}, fmt.Errorf("%w: %q", ErrUnknownInstance, id)
		}
		return out[0], nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	in, ok := r.instances[id]
	if !ok {
		return wire.ParticipantStatus{}, fmt.Errorf("%w: %q", ErrUnknownInstance, id)
	}
	return r.status(in, r.now()), nil
}

// Pending returns the oldest phase instance id has not acknowledged; ok is false when none.
func (r *Registry) Pending(id string) (req wire.PhaseRequest, ok bool, err error) {
	r.mu.Lock()
	in, found := r.instances[id]
	var d *delivery
	if found && !in.remote {
		d, ok = in.pending()
	}
	r.mu.Unlock()
	switch {
	case ok:
		return d.req, true, nil
	case r.shared != nil:
		// Handed through the state database, and asked of another controller than the one
		// holding it (or before its loop read it).
		return r.sharedPending(id)
	case !found:
		return req, false, fmt.Errorf("%w: %q", ErrUnknownInstance, id)
	}
	return req, false, nil
}

// Ack records instance id's answer to the phase delivered to it. Acknowledging an acknowledged
// phase again is accepted (idempotent) and changes nothing.
func (r *Registry) Ack(id string, a wire.Ack) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if a.InstanceID != id {
		return fmt.Errorf("%w: ack of %q sent for %q", wire.ErrInvalid, a.InstanceID, id)
	}
	r.mu.Lock()
	in, ok := r.instances[id]
	var d *delivery
	if ok {
		d = in.deliveries[a.MigrationID]
	}
	// Delivered by this controller's own gate: recorded here, as always. Anything else (handed
	// through the state database, or a delivery this controller does not hold) is recorded in
	// the state database, where the gate that sent it takes it once.
	if d != nil && d.req.Phase == a.Phase && !d.viaDB && !d.handed {
		if !d.acked {
			d.acked, d.ack, d.err = true, a, ""
		}
		r.mu.Unlock()
		return nil
	}
	r.mu.Unlock()
	switch {
	case r.shared != nil:
		if err := r.sharedAck(a); err != nil {
			return err
		}
		r.mu.Lock()
		if d != nil && d.handed && d.req.Phase == a.Phase && !d.acked {
			d.acked, d.ack = true, a
		}
		r.mu.Unlock()
		return nil
	case !ok:
		return fmt.Errorf("%w: %q", ErrUnknownInstance, id)
	}
	return fmt.Errorf("%w: %s %s to %s", ErrNotPending, a.MigrationID, a.Phase, id)
}

// Deliver sends req to instance id and waits for the outcome (HTTP mode) or the signal (signal
// mode), recording it on the instance as the gate's deliveries are. It serves tools and tests
// that drive one phase by hand; the gate delivers by itself.
func (r *Registry) Deliver(ctx context.Context, id string, req wire.PhaseRequest) {
	r.deliver(ctx, id, req, 0)
}
