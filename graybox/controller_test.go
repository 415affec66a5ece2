package graybox_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ghostgate/ghostgate/graybox/internal/require"

	"github.com/ghostgate/ghostgate/graybox/wire"
)

// controller is a small but real implementation of the controller's participant endpoints
// (package wire), for the protocol tests: it verifies signatures, keeps leases and pending
// phases, and delivers phases over HTTP or by signal.
type controller struct {
	t        *testing.T
	secret   []byte
	ttl      time.Duration
	verifier *wire.Verifier
	srv      *httptest.Server

	mu        sync.Mutex
	regs      map[string]wire.Registration
	leases    map[string]time.Time
	pending   map[string]wire.PhaseRequest
	counts    map[string]int // "register", "heartbeat", "deregister", "pending", "lapsed"
	badSigned bool           // sign pending responses with a wrong secret
	ackFails  int            // answer this many acks with 503 first
	acks      chan wire.Ack
	healthMs  int64              // asked of participants in every response (0: no pushes)
	health    []wire.TableHealth // the last figures received (heartbeat or push)
}

func newController(t *testing.T, secret []byte, ttl time.Duration) *controller {
	t.Helper()
	v, err := wire.NewVerifier(wire.VerifierConfig{Secret: secret})
	require.NoError(t, err)
	c := &controller{
		t: t, secret: secret, ttl: ttl, verifier: v,
		regs: map[string]wire.Registration{}, leases: map[string]time.Time{},
		pending: map[string]wire.PhaseRequest{}, counts: map[string]int{},
		acks: make(chan wire.Ack, 16),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+wire.PathParticipants, c.register)
	mux.HandleFunc("POST "+wire.PathHeartbeat, c.heartbeat)
	mux.HandleFunc("DELETE "+wire.PathParticipant, c.deregister)
	mux.HandleFunc("GET "+wire.PathPending, c.getPending)
	mux.HandleFunc("POST "+wire.PathAck, c.ack)
	mux.HandleFunc("POST "+wire.PathHealth, c.pushHealth)
	c.srv = httptest.NewServer(mux)
	t.Cleanup(c.srv.Close)
	return c
}

// body reads and authenticates a request; false when it answered already.
func (c *controller) body(w http.ResponseWriter, r *http.Request, into any) bool {
	b, err := wire.ReadBody(r.Body)
	if err == nil {
		err = c.verifier.Verify(r, b, time.Now())
	}
	if err != nil {
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

func (c *controller) register(w http.ResponseWriter, r *http.Request) {
	var reg wire.Registration
	if !c.body(w, r, &reg) {
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
	writeJSON(w, http.StatusCreated, c.renewLocked(reg.InstanceID))
}

func (c *controller) renewLocked(id string) wire.RegistrationResponse {
	now := time.Now()
	if exp, ok := c.leases[id]; ok && now.After(exp) {
		c.counts["lapsed"]++
	}
	c.leases[id] = now.Add(c.ttl)
	_, pending := c.pending[id]
	return wire.RegistrationResponse{InstanceID: id, LeaseTTLMillis: c.ttl.Milliseconds(), LeaseExpires: c.leases[id], Pending: pending,
		HealthMillis: c.healthMs}
}

func (c *controller) heartbeat(w http.ResponseWriter, r *http.Request) {
	var hb wire.Heartbeat
	if !c.body(w, r, &hb) {
		return
	}
	id := r.PathValue("id")
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.regs[id]; !ok || hb.InstanceID != id {
		writeJSON(w, http.StatusNotFound, wire.ErrorResponse{Error: "unknown instance"})
		return
	}
	c.counts["heartbeat"]++
	if hb.Health != nil {
		c.health = hb.Health
	}
	writeJSON(w, http.StatusOK, c.renewLocked(id))
}

// pushHealth takes a pushed health report; it does not renew the lease.
func (c *controller) pushHealth(w http.ResponseWriter, r *http.Request) {
	var h wire.HealthReport
	if !c.body(w, r, &h) {
		return
	}
	if err := wire.ValidateHealth(h.Tables); err != nil {
		writeJSON(w, http.StatusBadRequest, wire.ErrorResponse{Error: err.Error()})
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts["health"]++
	c.health = h.Tables
	_, pending := c.pending[r.PathValue("id")]
	writeJSON(w, http.StatusOK, wire.RegistrationResponse{InstanceID: r.PathValue("id"), LeaseTTLMillis: c.ttl.Milliseconds(),
		LeaseExpires: c.leases[r.PathValue("id")], Pending: pending, HealthMillis: c.healthMs})
}

// lastHealth is the last figures received and how many pushes came.
func (c *controller) lastHealth() ([]wire.TableHealth, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.health, c.counts["health"]
}

// askHealth sets the push interval asked of participants from the next response on.
func (c *controller) askHealth(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.healthMs = d.Milliseconds()
}

func (c *controller) deregister(w http.ResponseWriter, r *http.Request) {
	if !c.body(w, r, nil) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.regs, r.PathValue("id"))
	delete(c.leases, r.PathValue("id"))
	c.counts["deregister"]++
	w.WriteHeader(http.StatusNoContent)
}

func (c *controller) getPending(w http.ResponseWriter, r *http.Request) {
	if !c.body(w, r, nil) {
		return
	}
	c.mu.Lock()
	req, ok := c.pending[r.PathValue("id")]
	c.counts["pending"]++
	bad := c.badSigned
	c.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	out, err := json.Marshal(req)
	require.NoError(c.t, err)
	secret := c.secret
	if bad {
		secret = []byte("not-the-shared-secret-at-all")
	}
	wire.SignResponse(w.Header(), r, out, secret, time.Now())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

func (c *controller) ack(w http.ResponseWriter, r *http.Request) {
	var a wire.Ack
	if !c.body(w, r, &a) {
		return
	}
	c.mu.Lock()
	if c.ackFails > 0 {
		c.ackFails--
		c.counts["ack_failed"]++
		c.mu.Unlock()
		writeJSON(w, http.StatusServiceUnavailable, wire.ErrorResponse{Error: "busy"})
		return
	}
	req, ok := c.pending[r.PathValue("id")]
	if !ok || req.Key() != a.MigrationID+"/"+string(a.Phase) {
		c.mu.Unlock()
		writeJSON(w, http.StatusConflict, wire.ErrorResponse{Error: "not pending"})
		return
	}
	delete(c.pending, r.PathValue("id"))
	c.mu.Unlock()
	c.acks <- a
	w.WriteHeader(http.StatusNoContent)
}

func (c *controller) count(what string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[what]
}

func (c *controller) registration(id string) (wire.Registration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.regs[id]
	return r, ok
}

// forget simulates a controller restart: every registration is gone.
func (c *controller) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.regs = map[string]wire.Registration{}
	c.leases = map[string]time.Time{}
}

func (c *controller) setPending(id string, req wire.PhaseRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending[id] = req
}

// post sends body to the hook signed as of at, returning the status and the verified ack.
func (c *controller) post(t *testing.T, hookURL string, body []byte, secret []byte) (int, wire.Ack) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, hookURL, bytes.NewReader(body))
	require.NoError(t, err)
	wire.Sign(req, body, secret, time.Now())
	return c.send(t, req, body)
}

// send sends a prepared request to a hook and, on 200, verifies the signed ack.
func (c *controller) send(t *testing.T, req *http.Request, body []byte) (int, wire.Ack) {
	t.Helper()
	req.Body = httpBody(body)
	resp, err := c.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := wire.ReadBody(resp.Body)
	require.NoError(t, err)
	var a wire.Ack
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, c.verifier.VerifyResponse(resp, req, out, time.Now()), "hook response signature")
		require.NoError(t, json.Unmarshal(out, &a))
	}
	return resp.StatusCode, a
}

// deliverHTTP delivers req to a registered HTTP-mode instance and returns its ack.
func (c *controller) deliverHTTP(t *testing.T, id string, req wire.PhaseRequest) wire.Ack {
	t.Helper()
	reg, ok := c.registration(id)
	require.True(t, ok, "instance %s not registered", id)
	body, err := json.Marshal(req)
	require.NoError(t, err)
	code, a := c.post(t, reg.HookURL, body, c.secret)
	require.Equal(t, http.StatusOK, code)
	return a
}

// deliverSignal makes req pending for a signal-mode instance, signals its pid, and waits for
// the ack it posts.
func (c *controller) deliverSignal(t *testing.T, id string, req wire.PhaseRequest) wire.Ack {
	t.Helper()
	reg, ok := c.registration(id)
	require.True(t, ok, "instance %s not registered", id)
	require.Equal(t, "SIGUSR2", reg.SignalName())
	c.setPending(id, req)
	// The pid is this test process: graybox listens for SIGUSR2 since before it registered,
	// and TestMain keeps a listener too, so the signal cannot take the default action (exit).
	require.NoError(t, syscall.Kill(reg.PID, syscall.SIGUSR2))
	return c.waitAck(t)
}

func (c *controller) waitAck(t *testing.T) wire.Ack {
	t.Helper()
	select {
	case a := <-c.acks:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no ack within 10s")
		return wire.Ack{}
	}
}
