package cutover_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/runner"
)

// hook is a participant's HTTP hook as graybox serves it: it verifies the controller's
// signature and answers a signed ack, or misbehaves as told.
type hook struct {
	id, behaviour string // ready, notready, notready-once, hang (on prepare), badsig
	verifier      *wire.Verifier
	srv           *httptest.Server
	mu            sync.Mutex
	phases        []wire.Phase
	holds         []int64 // the hold of each prepare, in ms
}

func newHook(t *testing.T, id, behaviour string) *hook {
	t.Helper()
	v, err := wire.NewVerifier(wire.VerifierConfig{Secret: secret})
	require.NoError(t, err)
	h := &hook{id: id, behaviour: behaviour, verifier: v}
	h.srv = httptest.NewServer(h)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := wire.ReadBody(r.Body)
	if err == nil {
		err = h.verifier.Verify(r, body, time.Now())
	}
	var req wire.PhaseRequest
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.mu.Lock()
	h.phases = append(h.phases, req.Phase)
	if req.Phase == wire.PhasePrepare {
		h.holds = append(h.holds, req.HoldMillis)
	}
	h.mu.Unlock()
	if h.behaviour == "hang" && req.Phase == wire.PhasePrepare {
		<-r.Context().Done()
		return
	}
	ack := wire.Ack{InstanceID: h.id, MigrationID: req.MigrationID, Phase: req.Phase, Ready: true}
	if h.behaviour == "notready" && req.Phase == wire.PhasePrepare {
		ack.Ready, ack.Message = false, "cache warm-up failed"
	}
	if h.behaviour == "notready-once" && req.Phase == wire.PhasePrepare && h.count(wire.PhasePrepare) == 1 {
		ack.Ready, ack.Message = false, "still warming up"
	}
	out, _ := json.Marshal(ack)
	key := secret
	if h.behaviour == "badsig" {
		key = []byte("some-other-secret-entirely")
	}
	wire.SignResponse(w.Header(), r, out, key, time.Now())
	_, _ = w.Write(out)
}

func (h *hook) count(p wire.Phase) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, x := range h.phases {
		if x == p {
			n++
		}
	}
	return n
}

func (h *hook) got(p wire.Phase) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, x := range h.phases {
		if x == p {
			return true
		}
	}
	return false
}

// controller is a Registry behind its API handler.
type controller struct {
	reg *cutover.Registry
	srv *httptest.Server
}

func newController(t *testing.T, cfg cutover.RegistryConfig) *controller {
	t.Helper()
	cfg.Secret = secret
	reg, err := cutover.NewRegistry(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(func() { srv.Close(); reg.Close() })
	return &controller{reg: reg, srv: srv}
}

func (c *controller) register(t *testing.T, r wire.Registration) {
	t.Helper()
	resp, body, _ := signed(t, c.srv.URL, http.MethodPost, wire.PathParticipants, r, secret)
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(body))
}

func (c *controller) registerHook(t *testing.T, table string, h *hook) {
	t.Helper()
	c.register(t, wire.Registration{Service: "orders", InstanceID: h.id, Tables: []string{table},
		Mode: wire.ModeHTTP, HookURL: h.srv.URL + wire.HookPath, Host: "test"})
}

func participantGate(t *testing.T, c *controller, ev *sink) (*cutover.Gate, runner.Target) {
	t.Helper()
	d := sandboxtest.New(t)
	d.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY)")
	cfg := quiet()
	cfg.Participants = cutover.Participants{OldVersion: "v1", NewVersion: "v2",
		PrepareTimeout: 500 * time.Millisecond, FinishTimeout: time.Second}
	g, err := cutover.New(cfg, cutover.Deps{DB: d.Primary, Engine: readyEngine().state, Registry: c.reg, Events: ev})
	require.NoError(t, err)
	return g, target(d)
}

func table(tg runner.Target) string { return tg.Schema + "." + tg.Table }

func TestParticipantsAllAck(t *testing.T) {
	c := newController(t, cutover.RegistryConfig{})
	ev := &sink{}
	g, tg := participantGate(t, c, ev)
	h1, h2 := newHook(t, "a", "ready"), newHook(t, "b", "ready")
	c.registerHook(t, table(tg), h1)
	c.registerHook(t, table(tg), h2)
	a := startAwait(t, g, tg)
	require.NoError(t, a.result(t, 10*time.Second))
	l, _ := g.Checklist().Line(cutover.LineParticipants)
	assert.Equal(t, "2/2 ready", l.Value)

	require.NoError(t, g.Finish(context.Background(), true))
	assert.True(t, h1.got(wire.PhaseCommit))
	assert.True(t, h2.got(wire.PhaseCommit))
	assert.False(t, h1.got(wire.PhaseAbort))
	e, ok := ev.find(cutover.EventPhase)
	require.True(t, ok)
	assert.Equal(t, "commit acknowledged by 2 of 2 instance(s)", e.Message)
	require.NoError(t, g.Finish(context.Background(), true), "a second Finish does nothing")
}

// An instance that never acknowledges keeps the gate closed and is named: its round is aborted
// at the deadline (the prepared instance hears abort) and the next one waits for the backoff;
// cancelling the wait sends abort to every instance.
func TestParticipantNeverAcks(t *testing.T) {
	c := newController(t, cutover.RegistryConfig{})
	ev := &sink{}
	g, tg := participantGate(t, c, ev)
	ok, silent := newHook(t, "fine", "ready"), newHook(t, "silent", "hang")
	c.registerHook(t, table(tg), ok)
	c.registerHook(t, table(tg), silent)
	a := startAwait(t, g, tg)
	l := waitLine(t, g, cutover.LineParticipants, func(l cutover.Line) bool {
		return !l.OK && contains(l.Detail, "round 1 aborted: orders/silent@test (http)")
	}, 5*time.Second)
	assert.Equal(t, "0/2 ready", l.Value, "between rounds nobody is prepared")
	require.Eventually(t, func() bool { return ok.got(wire.PhaseAbort) }, 5*time.Second, 20*time.Millisecond,
		"the round's abort reaches the prepared instance")
	e, found := ev.find(cutover.EventRound)
	require.True(t, found)
	assert.Contains(t, e.Message, "prepare round 1 aborted after 500ms")
	a.stillWaiting(t)
	a.cancel()
	require.ErrorIs(t, a.result(t, 10*time.Second), context.Canceled)
	assert.True(t, ok.got(wire.PhaseAbort), "the prepared instance got abort")
	assert.True(t, silent.got(wire.PhaseAbort), "the silent one too: it may have prepared; %v", silent.phases)
	_, found = ev.find(cutover.EventParticipant)
	assert.True(t, found)
	s, err := c.reg.Participant("fine")
	require.NoError(t, err)
	assert.Equal(t, wire.PhaseAbort, s.Phase)
	assert.True(t, s.Acked)
}

// A "not ready" answer and an ack signed with the wrong secret keep the gate closed, each
// named; evicting both (the DBA's call) opens it.
func TestParticipantNotReadyBadSignatureEvict(t *testing.T) {
	c := newController(t, cutover.RegistryConfig{})
	g, tg := participantGate(t, c, &sink{})
	c.registerHook(t, table(tg), newHook(t, "nope", "notready"))
	c.registerHook(t, table(tg), newHook(t, "forged", "badsig"))
	c.registerHook(t, "other.table", newHook(t, "elsewhere", "hang")) // not this table's
	a := startAwait(t, g, tg)
	l := waitLine(t, g, cutover.LineParticipants, func(l cutover.Line) bool {
		return contains(l.Detail, "orders/nope@test (http): not ready: cache warm-up failed") &&
			contains(l.Detail, "ack refused: wire: bad signature")
	}, 5*time.Second)
	assert.Equal(t, "0/2 ready", l.Value)
	a.stillWaiting(t)
	for _, id := range []string{"nope", "forged"} {
		resp, body, _ := signed(t, c.srv.URL, http.MethodDelete, wire.ParticipantPath(wire.PathParticipant, id), nil, secret)
		require.Equal(t, http.StatusNoContent, resp.StatusCode, string(body))
	}
	require.NoError(t, a.result(t, 5*time.Second))
}

// An instance whose lease lapsed is named and never counted as ready; a heartbeat brings it
// back.
func TestParticipantLeaseLapse(t *testing.T) {
	c := newController(t, cutover.RegistryConfig{LeaseTTL: 300 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond})
	g, tg := participantGate(t, c, &sink{})
	c.registerHook(t, table(tg), newHook(t, "sleepy", "ready"))
	time.Sleep(400 * time.Millisecond)
	a := startAwait(t, g, tg)
	waitLine(t, g, cutover.LineParticipants, func(l cutover.Line) bool {
		return !l.OK && contains(l.Detail, "orders/sleepy@test (http): lease lapsed")
	}, 5*time.Second)
	time.Sleep(200 * time.Millisecond)
	a.stillWaiting(t)
	resp, body, _ := signed(t, c.srv.URL, http.MethodPost, wire.ParticipantPath(wire.PathHeartbeat, "sleepy"), wire.Heartbeat{InstanceID: "sleepy"}, secret)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.NoError(t, a.result(t, 5*time.Second))
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// A signal-mode participant in this very process: on SIGUSR2 it fetches its pending phase
// (checking the controller's response signature) and posts its ack.
func TestParticipantSignalMode(t *testing.T) {
	c := newController(t, cutover.RegistryConfig{})
	g, tg := participantGate(t, c, &sink{})
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR2) // before registering: the controller may signal at once
	t.Cleanup(func() { signal.Stop(sigs) })
	verifier, err := wire.NewVerifier(wire.VerifierConfig{Secret: secret})
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	var seen sync.Map // phase → true
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sigs:
			}
			resp, body, req := signed(t, c.srv.URL, http.MethodGet, wire.ParticipantPath(wire.PathPending, "sig-1"), nil, secret)
			if resp.StatusCode != http.StatusOK || verifier.VerifyResponse(resp, req, body, time.Now()) != nil {
				continue
			}
			var pr wire.PhaseRequest
			if json.Unmarshal(body, &pr) != nil {
				continue
			}
			seen.Store(pr.Phase, true)
			ack := wire.Ack{InstanceID: "sig-1", MigrationID: pr.MigrationID, Phase: pr.Phase, Ready: true}
			signed(t, c.srv.URL, http.MethodPost, wire.ParticipantPath(wire.PathAck, "sig-1"), ack, secret)
		}
	}()
	t.Cleanup(func() { stop(); <-done })
	c.register(t, wire.Registration{Service: "worker", InstanceID: "sig-1", Tables: []string{table(tg)},
		Mode: wire.ModeSignal, PID: os.Getpid(), Host: "localhost"})

	a := startAwait(t, g, tg)
	require.NoError(t, a.result(t, 10*time.Second))
	require.NoError(t, g.Finish(context.Background(), true))
	_, prepared := seen.Load(wire.PhasePrepare)
	_, committed := seen.Load(wire.PhaseCommit)
	assert.True(t, prepared)
	assert.True(t, committed)
	resp, _, _ := signed(t, c.srv.URL, http.MethodGet, wire.ParticipantPath(wire.PathPending, "sig-1"), nil, secret)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, "nothing pending once acked")
}

// The API refuses bad signatures, replays and malformed bodies, and changes nothing then.
func TestAPIRefuses(t *testing.T) {
	c := newController(t, cutover.RegistryConfig{})
	reg := wire.Registration{Service: "s", InstanceID: "i-1", Tables: []string{"db.t"}, Mode: wire.ModeSignal, PID: os.Getpid(), Host: "h"}

	resp, _, _ := signed(t, c.srv.URL, http.MethodPost, wire.PathParticipants, reg, []byte("wrong-secret-but-long-enough"))
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Empty(t, c.reg.Participants(), "nothing registered on a bad signature")

	resp, body, req := signed(t, c.srv.URL, http.MethodPost, wire.PathParticipants, reg, secret)
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(body))
	b, _ := json.Marshal(reg)
	replay, _, _ := send(t, req.Clone(context.Background()), b)
	assert.Equal(t, http.StatusUnauthorized, replay.StatusCode, "a replayed request is refused")

	resp, _, _ = signed(t, c.srv.URL, http.MethodPost, wire.ParticipantPath(wire.PathHeartbeat, "i-1"), "not a heartbeat", secret)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	bad := reg
	bad.Mode = "carrier-pigeon"
	resp, _, _ = signed(t, c.srv.URL, http.MethodPost, wire.PathParticipants, bad, secret)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	s, err := c.reg.Participant("i-1")
	require.NoError(t, err)
	assert.Equal(t, wire.ModeSignal, s.Mode, "the invalid re-registration changed nothing")

	resp, _, _ = signed(t, c.srv.URL, http.MethodPost, wire.ParticipantPath(wire.PathHeartbeat, "ghost"), wire.Heartbeat{InstanceID: "ghost"}, secret)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	ack := wire.Ack{InstanceID: "i-1", MigrationID: "m", Phase: wire.PhasePrepare, Ready: true}
	resp, _, _ = signed(t, c.srv.URL, http.MethodPost, wire.ParticipantPath(wire.PathAck, "i-1"), ack, secret)
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	resp, _, _ = signed(t, c.srv.URL, http.MethodGet, wire.ParticipantPath(wire.PathPending, "i-1"), nil, secret)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)

	resp, body, _ = signed(t, c.srv.URL, http.MethodGet, wire.PathParticipants, nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var list []wire.ParticipantStatus
	require.NoError(t, json.Unmarshal(body, &list))
	require.Len(t, list, 1)
	assert.True(t, list[0].Live)
	require.True(t, errors.Is(c.reg.Evict("nobody"), cutover.ErrUnknownInstance))
}

// Prepare makes services shed writes, so it goes out only once every other condition holds: while
// the gate waits for a DBA's approval, no instance is prepared.
func TestPrepareWaitsForTheOtherConditions(t *testing.T) {
	c := newController(t, cutover.RegistryConfig{})
	d := sandboxtest.New(t)
	d.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY)")
	cfg := quiet()
	cfg.Approval = cutover.Approval{Mode: cutover.ApprovalManual}
	cfg.Participants = cutover.Participants{OldVersion: "v1", NewVersion: "v2", PrepareTimeout: time.Second, FinishTimeout: time.Second}
	g, err := cutover.New(cfg, cutover.Deps{DB: d.Primary, Engine: readyEngine().state, Registry: c.reg, Events: &sink{}})
	require.NoError(t, err)
	tg := target(d)
	h := newHook(t, "a", "ready")
	c.registerHook(t, table(tg), h)
	a := startAwait(t, g, tg)

	l := waitLine(t, g, cutover.LineParticipants, func(l cutover.Line) bool {
		return contains(l.Detail, "prepare held until the other conditions hold")
	}, 5*time.Second)
	assert.False(t, l.OK)
	assert.True(t, l.Pending, "not asked yet is pending, not a failing participant")
	assert.Equal(t, "not asked yet", l.Value)
	time.Sleep(300 * time.Millisecond)
	assert.False(t, h.got(wire.PhasePrepare), "no prepare while approval is missing")
	a.stillWaiting(t)

	require.NoError(t, g.Approve(context.Background(), "dba"))
	require.NoError(t, a.result(t, 10*time.Second))
	assert.True(t, h.got(wire.PhasePrepare))
	require.NoError(t, g.Finish(context.Background(), true))
}

// "Not ready" is an answer for now: the gate asks again after PrepareTimeout, and opens once the
// instance is ready.
func TestNotReadyIsAskedAgain(t *testing.T) {
	c := newController(t, cutover.RegistryConfig{})
	g, tg := participantGate(t, c, &sink{})
	h := newHook(t, "slow", "notready-once")
	c.registerHook(t, table(tg), h)
	a := startAwait(t, g, tg)
	require.NoError(t, a.result(t, 10*time.Second))
	assert.GreaterOrEqual(t, h.count(wire.PhasePrepare), 2)
	require.NoError(t, g.Finish(context.Background(), true))
}
