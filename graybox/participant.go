package graybox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
)

// State is where one table stands for this instance.
type State struct {
	Table       string     // "schema.table"
	MigrationID string     // the last migration that reached this instance ("" when none)
	Phase       wire.Phase // the last phase applied ("" when none)
	Ready       bool       // the answer given to Phase
	Version     string     // the schema version live for the table, as far as this instance knows
	OldVersion  string     // of MigrationID
	NewVersion  string     // of MigrationID
	// HoldUntil is when a ready prepare ends by itself without commit or abort (this host's
	// clock: receipt + the request's hold, at most Config.MaxHold).
	HoldUntil time.Time
}

// Migrating reports whether the table is in cut-over: prepared (and ready), not yet committed
// or aborted, and its hold not lapsed.
func (s State) Migrating() bool { return s.migratingAt(time.Now()) }

func (s State) migratingAt(now time.Time) bool {
	return s.Phase == wire.PhasePrepare && s.Ready && (s.HoldUntil.IsZero() || now.Before(s.HoldUntil))
}

// lapsed reports whether s is a ready prepare of migrationID whose hold has passed.
func (s State) lapsed(migrationID string, now time.Time) bool {
	return s.MigrationID == migrationID && s.Phase == wire.PhasePrepare && s.Ready && !s.migratingAt(now)
}

// Participant takes part in cut-overs on behalf of one service instance. Create it with New,
// run Run for the registration and, in signal mode, the signal handling; in HTTP mode mount
// Hook. Its methods are safe for concurrent use.
type Participant struct {
	cfg      Config
	h        Handlers
	client   *client
	verifier *wire.Verifier
	pid      int

	mu     sync.Mutex
	tables map[string]State
	steps  map[string]*step // idempotency: wire.PhaseRequest.Key() → its step
	order  []string         // keys in steps, oldest first, to bound the map
	serial map[string]chan struct{}
	heard  time.Time     // the last authenticated word from the controller
	lease  time.Duration // the lease TTL the controller gave (0: not known yet)

	recorders    map[string]*Recorder // by table; fixed after New, so read without the lock
	registeredAt atomic.Int32         // the index of the controller (client.bases) registered with
}

// maxSteps bounds the idempotency cache: a re-delivery older than this many steps is improbable
// (the controller re-delivers within one deadline) and would at worst run a callback again.
const maxSteps = 256

// step is one (migration, phase) being applied or applied; done closes when ack is final.
type step struct {
	done chan struct{}
	ack  wire.Ack
}

// New returns a Participant for cfg with the service's callbacks.
func New(cfg Config, h Handlers) (*Participant, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.clone()
	if cfg.Host == "" {
		cfg.Host, _ = os.Hostname() // only shown to the DBA; empty is acceptable
	}
	v, err := wire.NewVerifier(wire.VerifierConfig{Secret: cfg.Secret})
	if err != nil {
		return nil, fmt.Errorf("graybox: %w", err)
	}
	p := &Participant{
		cfg:       cfg,
		h:         h,
		client:    newClient(cfg),
		verifier:  v,
		pid:       os.Getpid(),
		tables:    make(map[string]State, len(cfg.Tables)),
		steps:     make(map[string]*step),
		serial:    make(map[string]chan struct{}, len(cfg.Tables)),
		recorders: make(map[string]*Recorder, len(cfg.Tables)),
	}
	for _, t := range cfg.Tables {
		p.tables[t] = State{Table: t, Version: cfg.Versions[t]}
		p.serial[t] = make(chan struct{}, 1)
		p.recorders[t] = NewRecorder(t, cfg.HealthWindow)
	}
	return p, nil
}

// InstanceID is the instance's id as registered.
func (p *Participant) InstanceID() string { return p.cfg.InstanceID }

// State returns where table ("schema.table") stands; ok is false for a table not in Config.Tables.
func (p *Participant) State(table string) (s State, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok = p.tables[table]
	return s, ok
}

// Version is the schema version live for table as far as this instance knows.
func (p *Participant) Version(table string) string {
	s, _ := p.State(table)
	return s.Version
}

// Phase is the last phase applied for table ("" when none).
func (p *Participant) Phase(table string) wire.Phase {
	s, _ := p.State(table)
	return s.Phase
}

// Migrating reports whether any of the instance's tables is in cut-over (between a ready
// prepare and its commit or abort). Pass it to Readiness or ShedWrites. It turns false by itself
// when the prepare's hold passes, and when the instance has not heard from the controller for
// a whole lease (a dead or partitioned controller cannot make a service shed for ever; issue 10).
func (p *Participant) Migrating() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.lease > 0 && !p.heard.IsZero() && now.Sub(p.heard) > p.lease {
		return false
	}
	for _, s := range p.tables {
		if s.migratingAt(now) {
			return true
		}
	}
	return false
}

// MigratingTable is Migrating for one table ("schema.table"), for a service that sheds writes
// to the table being cut over only. It ends by itself as Migrating does.
func (p *Participant) MigratingTable(table string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.lease > 0 && !p.heard.IsZero() && now.Sub(p.heard) > p.lease {
		return false
	}
	return p.tables[table].migratingAt(now)
}

// heardFrom records an authenticated message of the controller (and the lease it gave, if any).
func (p *Participant) heardFrom(lease time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.heard = time.Now()
	if lease > 0 {
		p.lease = lease
	}
}

// holdFor is how long a ready prepare lasts: the request's hold, capped by Config.MaxHold.
func (p *Participant) holdFor(req wire.PhaseRequest) time.Duration {
	maxHold := p.cfg.maxHold()
	if h := req.Hold(); h > 0 && h < maxHold {
		return h
	}
	return maxHold
}

// Apply runs one phase request through the protocol and returns the ack to send: the callback
// runs at most once per (migration, phase) that succeeded; a re-delivery gets the same ack,
// and a concurrent duplicate waits for the first. A not-ready answer is not remembered, so that
// a re-delivery (with a new deadline) tries again. Hook and the signal handling call Apply; it
// is exported for services that receive phases some other way.
func (p *Participant) Apply(ctx context.Context, req wire.PhaseRequest) wire.Ack {
	if err := req.Validate(); err != nil {
		return p.ack(req, err)
	}
	received := time.Now()
	s, ok := p.State(req.QualifiedTable())
	if !ok {
		return p.ack(req, fmt.Errorf("graybox: instance does not use table %s", req.QualifiedTable()))
	}
	if req.Phase == wire.PhasePrepare && s.lapsed(req.MigrationID, received) {
		// A prepare whose hold passed is over: a new delivery is a new round, run again.
		p.forget(req.Key())
	}
	st, first := p.claim(req.Key())
	if !first {
		select {
		case <-st.done:
			p.observe(EventDuplicate, &req, nil)
			return st.ack
		case <-ctx.Done():
			return p.ack(req, ctx.Err())
		}
	}
	ack := p.run(ctx, req, received.Add(p.holdFor(req)))
	p.settle(req.Key(), st, ack)
	return ack
}

// forget drops the cached step of key (a finished one only: a running one keeps its waiters).
func (p *Participant) forget(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.steps[key]; ok {
		select {
		case <-st.done:
			delete(p.steps, key)
		default:
		}
	}
}

// claim returns the step for key and whether the caller must run it.
func (p *Participant) claim(key string) (*step, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.steps[key]; ok {
		return st, false
	}
	st := &step{done: make(chan struct{})}
	p.steps[key] = st
	p.order = append(p.order, key)
	if len(p.order) > maxSteps {
		delete(p.steps, p.order[0])
		p.order = p.order[1:]
	}
	return st, true
}

// settle publishes ack to waiting duplicates and forgets a not-ready step.
func (p *Participant) settle(key string, st *step, ack wire.Ack) {
	p.mu.Lock()
	st.ack = ack
	if !ack.Ready && p.steps[key] == st {
		delete(p.steps, key)
	}
	p.mu.Unlock()
	close(st.done)
}

// run applies req: one step per table at a time, the callback bounded by the request's
// deadline, then the table's state.
func (p *Participant) run(ctx context.Context, req wire.PhaseRequest, holdUntil time.Time) wire.Ack {
	ctx, cancel := context.WithDeadline(ctx, req.Deadline)
	defer cancel()
	table := req.QualifiedTable()
	lock := p.serial[table]
	select {
	case lock <- struct{}{}:
		defer func() { <-lock }()
	case <-ctx.Done():
		return p.ack(req, fmt.Errorf("graybox: waiting for the previous step on %s: %w", table, ctx.Err()))
	}
	if err := p.checkOrder(req); err != nil {
		return p.ack(req, err)
	}
	err := callback(ctx, p.h.forPhase(req.Phase), req)
	if err == nil && ctx.Err() != nil {
		// The callback finished after the deadline: the controller no longer counts this answer.
		err = fmt.Errorf("graybox: %s finished after the deadline: %w", req.Phase, ctx.Err())
	}
	p.transition(req, err == nil, holdUntil)
	p.observe(EventPhase, &req, err)
	return p.ack(req, err)
}

// callback runs h, turning a panic into an error: a bug in one service callback must answer
// not-ready rather than take the process (and the hook server) down.
func callback(ctx context.Context, h Handler, req wire.PhaseRequest) (err error) {
	if h == nil {
		return ctx.Err()
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("graybox: %s callback panicked: %v", req.Phase, r)
		}
	}()
	return h(ctx, req)
}

// ErrOutOfOrder is answered (as ready=false) to a phase that contradicts the migration's state:
// a prepare or abort after the commit of the same migration, or a commit after its abort.
var ErrOutOfOrder = errors.New("graybox: phase out of order")

func (p *Participant) checkOrder(req wire.PhaseRequest) error {
	s, _ := p.State(req.QualifiedTable())
	if s.MigrationID != req.MigrationID {
		return nil
	}
	switch {
	case s.Phase == wire.PhaseCommit && req.Phase != wire.PhaseCommit,
		s.Phase == wire.PhaseAbort && req.Phase == wire.PhaseCommit:
		return fmt.Errorf("%w: %s after %s of migration %s", ErrOutOfOrder, req.Phase, s.Phase, req.MigrationID)
	}
	return nil
}

// transition records the phase. Commit and abort are facts (the rename did or did not happen),
// so the version follows them even when the callback failed; a failed prepare leaves the
// instance on the old version.
func (p *Participant) transition(req wire.PhaseRequest, ok bool, holdUntil time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.tables[req.QualifiedTable()]
	s.MigrationID, s.Phase, s.Ready = req.MigrationID, req.Phase, ok
	s.OldVersion, s.NewVersion, s.HoldUntil = req.OldVersion, req.NewVersion, time.Time{}
	if req.Phase == wire.PhasePrepare {
		s.HoldUntil = holdUntil
	}
	switch req.Phase {
	case wire.PhasePrepare, wire.PhaseAbort:
		s.Version = req.OldVersion
	case wire.PhaseCommit:
		s.Version = req.NewVersion
	}
	p.tables[req.QualifiedTable()] = s
	// A new prepare after an abort is a new round of the same migration (the gate reopens
	// after a failed rename): forget the earlier round's steps so that they run again.
	if req.Phase == wire.PhaseAbort {
		delete(p.steps, req.MigrationID+"/"+string(wire.PhasePrepare))
	}
	if req.Phase == wire.PhasePrepare {
		delete(p.steps, req.MigrationID+"/"+string(wire.PhaseAbort))
	}
}

func (p *Participant) ack(req wire.PhaseRequest, err error) wire.Ack {
	a := wire.Ack{InstanceID: p.cfg.InstanceID, MigrationID: req.MigrationID, Phase: req.Phase, Ready: err == nil}
	if err != nil {
		a.Message = err.Error()
	}
	return a
}

func (p *Participant) observe(kind EventKind, req *wire.PhaseRequest, err error) {
	if p.cfg.Observe != nil {
		p.cfg.Observe(Event{Time: time.Now(), Kind: kind, Request: req, Err: err})
	}
}

// heartbeat is the current report for the controller: the state of the last table (in Config
// order) that a migration has reached. Most instances take part in one migration at a time.
func (p *Participant) heartbeat() wire.Heartbeat {
	p.mu.Lock()
	defer p.mu.Unlock()
	hb := wire.Heartbeat{InstanceID: p.cfg.InstanceID}
	for _, t := range p.cfg.Tables {
		s := p.tables[t]
		if s.MigrationID != "" {
			hb.MigrationID, hb.Phase, hb.Version = s.MigrationID, s.Phase, s.Version
			hb.Table, hb.OldVersion, hb.NewVersion = t, s.OldVersion, s.NewVersion
		}
	}
	hb.Health = p.health()
	return hb
}

// Hook is the http.Handler for ModeHTTP, to be mounted at the path of Config.HookURL
// (conventionally wire.HookPath). It refuses a bad or replayed signature with 401 and a
// malformed body with 400, and answers a valid PhaseRequest with a signed Ack (200).
func (p *Participant) Hook() http.Handler { return hook{p} }
