// Package ctltest is a small but real controller for the example's tests: it serves the
// participant endpoints of package wire (registration with leases, heartbeats, deregistration,
// pending phases with signed responses, acks), verifies every signature, and delivers phases
// the way `migrate serve` does — POSTing a signed PhaseRequest to an HTTP-mode instance's hook
// (and verifying the signed Ack), or making the phase pending and signalling a signal-mode
// instance's pid, then waiting for the Ack it posts.
package ctltest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
)

// Controller is the test controller. Create it with New; Close it when done.
type Controller struct {
	secret   []byte
	ttl      time.Duration
	verifier *wire.Verifier
	srv      *httptest.Server

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every registration change
	regs    map[string]wire.Registration
	beats   map[string]wire.Heartbeat
	pending map[string]wire.PhaseRequest
	acks    map[string]chan wire.Ack
	counts  map[string]int
}

// New starts a controller with the shared secret and lease TTL.
func New(secret []byte, ttl time.Duration) (*Controller, error) {
	v, err := wire.NewVerifier(wire.VerifierConfig{Secret: secret})
	if err != nil {
		return nil, err
	}
	c := &Controller{
		secret: secret, ttl: ttl, verifier: v, changed: make(chan struct{}),
		regs: map[string]wire.Registration{}, beats: map[string]wire.Heartbeat{},
		pending: map[string]wire.PhaseRequest{}, acks: map[string]chan wire.Ack{}, counts: map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+wire.PathParticipants, c.register)
	mux.HandleFunc("POST "+wire.PathHeartbeat, c.heartbeat)
	mux.HandleFunc("DELETE "+wire.PathParticipant, c.deregister)
	mux.HandleFunc("GET "+wire.PathPending, c.getPending)
	mux.HandleFunc("POST "+wire.PathAck, c.ack)
	c.srv = httptest.NewServer(mux)
	return c, nil
}

// URL is the controller's base URL.
func (c *Controller) URL() string { return c.srv.URL }

// Close stops the controller.
func (c *Controller) Close() { c.srv.Close() }

// Count is how often something happened: "register", "heartbeat", "deregister", "pending", "ack",
// "unauthorized".
func (c *Controller) Count(what string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[what]
}

// Registration returns the instance's registration.
func (c *Controller) Registration(id string) (wire.Registration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.regs[id]
	return r, ok
}

// LastHeartbeat returns the instance's last heartbeat.
func (c *Controller) LastHeartbeat(id string) wire.Heartbeat {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.beats[id]
}

// WaitFor waits until cond (called under the controller's lock with the registrations) holds.
func (c *Controller) WaitFor(ctx context.Context, cond func(regs map[string]wire.Registration) bool) error {
	for {
		c.mu.Lock()
		ok, ch := cond(c.regs), c.changed
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("ctltest: waiting for registrations: %w", ctx.Err())
		}
	}
}

// WaitRegistered waits until id is registered.
func (c *Controller) WaitRegistered(ctx context.Context, id string) (wire.Registration, error) {
	err := c.WaitFor(ctx, func(regs map[string]wire.Registration) bool { _, ok := regs[id]; return ok })
	r, _ := c.Registration(id)
	return r, err
}

// WaitGone waits until id is no longer registered (it deregistered).
func (c *Controller) WaitGone(ctx context.Context, id string) error {
	return c.WaitFor(ctx, func(regs map[string]wire.Registration) bool { _, ok := regs[id]; return !ok })
}

func (c *Controller) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Deliver delivers req to the registered instance id and returns its ack: over the hook in
// HTTP mode, by pending phase and signal in signal mode.
func (c *Controller) Deliver(ctx context.Context, id string, req wire.PhaseRequest) (wire.Ack, error) {
	reg, ok := c.Registration(id)
	if !ok {
		return wire.Ack{}, fmt.Errorf("ctltest: %s is not registered", id)
	}
	if reg.Mode == wire.ModeHTTP {
		return c.deliverHTTP(ctx, reg, req)
	}
	return c.deliverSignal(ctx, reg, req)
}

func (c *Controller) deliverHTTP(ctx context.Context, reg wire.Registration, req wire.PhaseRequest) (wire.Ack, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return wire.Ack{}, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, reg.HookURL, bytes.NewReader(body))
	if err != nil {
		return wire.Ack{}, err
	}
	wire.Sign(hr, body, c.secret, time.Now())
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return wire.Ack{}, fmt.Errorf("ctltest: hook: %w", err)
	}
	defer resp.Body.Close()
	out, err := wire.ReadBody(resp.Body)
	if err != nil {
		return wire.Ack{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return wire.Ack{}, fmt.Errorf("ctltest: hook answered %d: %s", resp.StatusCode, out)
	}
	if err := c.verifier.VerifyResponse(resp, hr, out, time.Now()); err != nil {
		return wire.Ack{}, fmt.Errorf("ctltest: hook response: %w", err)
	}
	var a wire.Ack
	if err := json.Unmarshal(out, &a); err != nil {
		return wire.Ack{}, err
	}
	return a, nil
}

func (c *Controller) deliverSignal(ctx context.Context, reg wire.Registration, req wire.PhaseRequest) (wire.Ack, error) {
	sig := syscall.SIGUSR2
	if reg.SignalName() == "SIGUSR1" {
		sig = syscall.SIGUSR1
	}
	ch := make(chan wire.Ack, 1)
	c.mu.Lock()
	c.pending[reg.InstanceID] = req
	c.acks[reg.InstanceID] = ch
	c.mu.Unlock()
	if err := syscall.Kill(reg.PID, sig); err != nil {
		return wire.Ack{}, fmt.Errorf("ctltest: signal pid %d: %w", reg.PID, err)
	}
	select {
	case a := <-ch:
		return a, nil
	case <-ctx.Done():
		return wire.Ack{}, fmt.Errorf("ctltest: no ack from %s: %w", reg.InstanceID, ctx.Err())
	}
}

// SetPending makes req pending for id without signalling (a heartbeat then reports it).
func (c *Controller) SetPending(id string, req wire.PhaseRequest) <-chan wire.Ack {
	ch := make(chan wire.Ack, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending[id] = req
	c.acks[id] = ch
	return ch
}

// authenticate reads and verifies a request; false when it answered already.
func (c *Controller) authenticate(w http.ResponseWriter, r *http.Request, into any) bool {
	b, err := wire.ReadBody(r.Body)
	if err == nil {
		err = c.verifier.Verify(r, b, time.Now())
	}
	if err != nil {
		c.mu.Lock()
		c.counts["unauthorized"]++
		c.mu.Unlock()
		writeJSON(w, http.StatusUnauthorized, wire.ErrorResponse{Error: err.Error()})
		return false
	}
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			writeJSON(w, http.StatusBadRequest, wire.ErrorResponse{Error: err.Error()})
			return false
		}
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (c *Controller) lease(id string) wire.RegistrationResponse {
	_, pending := c.pending[id]
	return wire.RegistrationResponse{InstanceID: id, LeaseTTLMillis: c.ttl.Milliseconds(),
		LeaseExpires: time.Now().Add(c.ttl), Pending: pending}
}

func (c *Controller) register(w http.ResponseWriter, r *http.Request) {
	var reg wire.Registration
	if !c.authenticate(w, r, &reg) {
		return
	}
	if err := reg.Validate(); err != nil {
		writeJSON(w, http.StatusBadRequest, wire.ErrorResponse{Error: err.Error()})
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.regs[reg.InstanceID] = reg
	c.counts["register"]++
	c.notifyLocked()
	writeJSON(w, http.StatusCreated, c.lease(reg.InstanceID))
}

func (c *Controller) heartbeat(w http.ResponseWriter, r *http.Request) {
	var hb wire.Heartbeat
	if !c.authenticate(w, r, &hb) {
		return
	}
	id := r.PathValue("id")
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.regs[id]; !ok {
		writeJSON(w, http.StatusNotFound, wire.ErrorResponse{Error: "unknown instance"})
		return
	}
	c.beats[id] = hb
	c.counts["heartbeat"]++
	writeJSON(w, http.StatusOK, c.lease(id))
}

func (c *Controller) deregister(w http.ResponseWriter, r *http.Request) {
	if !c.authenticate(w, r, nil) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.regs, r.PathValue("id"))
	c.counts["deregister"]++
	c.notifyLocked()
	w.WriteHeader(http.StatusNoContent)
}

func (c *Controller) getPending(w http.ResponseWriter, r *http.Request) {
	if !c.authenticate(w, r, nil) {
		return
	}
	c.mu.Lock()
	req, ok := c.pending[r.PathValue("id")]
	c.counts["pending"]++
	c.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	out, err := json.Marshal(req)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, wire.ErrorResponse{Error: err.Error()})
		return
	}
	// A pending phase is an instruction: graybox refuses it unless the controller signed it.
	wire.SignResponse(w.Header(), r, out, c.secret, time.Now())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// errNotPending is the 409 answer to an ack for a phase that is not pending.
var errNotPending = errors.New("not pending")

func (c *Controller) ack(w http.ResponseWriter, r *http.Request) {
	var a wire.Ack
	if !c.authenticate(w, r, &a) {
		return
	}
	id := r.PathValue("id")
	c.mu.Lock()
	req, ok := c.pending[id]
	if !ok || req.Key() != a.MigrationID+"/"+string(a.Phase) {
		c.mu.Unlock()
		writeJSON(w, http.StatusConflict, wire.ErrorResponse{Error: errNotPending.Error()})
		return
	}
	ch := c.acks[id]
	delete(c.pending, id)
	delete(c.acks, id)
	c.counts["ack"]++
	c.mu.Unlock()
	ch <- a // buffered, one ack per pending phase
	w.WriteHeader(http.StatusNoContent)
}

// Request is a PhaseRequest for migration id on schema.table from shop's old to new version,
// due within a minute.
func Request(id, schema, table string, phase wire.Phase, oldV, newV string) wire.PhaseRequest {
	return wire.PhaseRequest{MigrationID: id, Schema: schema, Table: table, OldVersion: oldV,
		NewVersion: newV, Phase: phase, Deadline: time.Now().Add(time.Minute), Attempt: 1}
}
