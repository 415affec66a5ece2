package cutover_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/graybox/wire"
)

func sigReg(id string, pid int) wire.Registration {
	return wire.Registration{Service: "s", InstanceID: id, Tables: []string{"db.t"}, Mode: wire.ModeSignal, PID: pid, Host: "h"}
}

// Issue 10: a signal-mode registration named an unrelated pid and the controller signalled it.
// The pid must be the registering process's own (the kernel's word: the connection is among its
// open files); another process's pid is refused with 403 and never signalled.
func TestSignalModeBindsThePid(t *testing.T) {
	var signalled []int
	c := newController(t, cutover.RegistryConfig{Signal: func(pid int, _ string) error { signalled = append(signalled, pid); return nil }})
	other := exec.Command("sleep", "60")
	require.NoError(t, other.Start())
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })

	for _, pid := range []int{1, other.Process.Pid} {
		resp, body, _ := signed(t, c.srv.URL, http.MethodPost, wire.PathParticipants, sigReg("victim", pid), secret)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, string(body))
		assert.Contains(t, string(body), "cannot verify that the pid made this registration")
	}
	require.Empty(t, c.reg.Participants(), "nothing registered")

	resp, body, _ := signed(t, c.srv.URL, http.MethodPost, wire.PathParticipants, sigReg("me", os.Getpid()), secret)
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(body))
	require.Empty(t, signalled)
}

// Hooks: an address outside the hook networks is refused at registration (a cloud metadata
// address by default) and at dial time (a name that resolves there); redirects are never
// followed; nothing a hook sends back, body or raw bytes, shows in the API.
func TestHookSSRF(t *testing.T) {
	c := newController(t, cutover.RegistryConfig{})
	reg := wire.Registration{Service: "s", InstanceID: "meta", Tables: []string{"db.t"}, Mode: wire.ModeHTTP,
		HookURL: "http://169.254.169.254/latest/meta-data", Host: "h"}
	resp, body, _ := signed(t, c.srv.URL, http.MethodPost, wire.PathParticipants, reg, secret)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
	assert.Contains(t, string(body), "169.254.169.254 is outside the hook networks")

	// A redirect is a failed delivery: the target of the redirect gets nothing.
	var reached bool
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
	t.Cleanup(target.Close)
	redirect := httptest.NewServer(http.RedirectHandler(target.URL+wire.HookPath, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	// A hook that answers an error with a body, and a "hook" that is not HTTP at all (a
	// database greeting).
	chatty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":"SECRET-BODY-0xdeadbeef"}`, http.StatusTeapot)
	}))
	t.Cleanup(chatty.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Write([]byte("J\x00\x00\x00\n5.5.5-10.11.6-MariaDB-SECRET-GREETING\x00"))
			_ = conn.Close()
		}
	}()
	hooks := map[string]string{"redirect": redirect.URL, "chatty": chatty.URL, "greeter": "http://" + ln.Addr().String()}
	for id, u := range hooks {
		reg := wire.Registration{Service: "s", InstanceID: id, Tables: []string{"db.t"}, Mode: wire.ModeHTTP, HookURL: u + wire.HookPath, Host: "h"}
		resp, body, _ := signed(t, c.srv.URL, http.MethodPost, wire.PathParticipants, reg, secret)
		require.Equal(t, http.StatusCreated, resp.StatusCode, string(body))
	}
	for id := range hooks {
		c.reg.Deliver(context.Background(), id, prepareReq())
	}
	want := map[string]string{"redirect": "answered HTTP 307", "chatty": "answered HTTP 418", "greeter": "no valid HTTP answer"}
	_, listing, _ := signed(t, c.srv.URL, http.MethodGet, wire.PathParticipants, nil, nil)
	for id, msg := range want {
		s, err := c.reg.Participant(id)
		require.NoError(t, err)
		assert.Contains(t, s.Message, msg, id)
	}
	assert.False(t, reached, "the redirect was not followed")
	assert.NotContains(t, string(listing), "SECRET")
	assert.NotContains(t, string(listing), "MariaDB")

	// Hook networks by configuration: loopback not among them, so even "localhost" is refused
	// when dialled.
	strict := newController(t, cutover.RegistryConfig{HookNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	h := newHook(t, "strict", "ready")
	u := strings.Replace(h.srv.URL, "127.0.0.1", "localhost", 1)
	strict.register(t, wire.Registration{Service: "s", InstanceID: "strict", Tables: []string{"db.t"}, Mode: wire.ModeHTTP, HookURL: u + wire.HookPath, Host: "h"})
	strict.reg.Deliver(context.Background(), "strict", prepareReq())
	s, err := strict.reg.Participant("strict")
	require.NoError(t, err)
	assert.Contains(t, s.Message, "hook address not allowed")
	assert.Zero(t, h.count(wire.PhasePrepare), "nothing reached the hook")
}

func prepareReq() wire.PhaseRequest {
	return wire.PhaseRequest{MigrationID: "m1", Schema: "db", Table: "t", OldVersion: "v1", NewVersion: "v2",
		Phase: wire.PhasePrepare, Deadline: time.Now().Add(2 * time.Second), Attempt: 1, HoldMillis: 1000}
}

// Registrations are capped (429 with a clear message; a known id may re-register), lapsed ones
// expire, and ids that cannot be a path segment are refused.
func TestRegistrationLimits(t *testing.T) {
	c := newController(t, cutover.RegistryConfig{MaxInstances: 2, LeaseTTL: 200 * time.Millisecond,
		HeartbeatInterval: 50 * time.Millisecond, ExpireAfter: 300 * time.Millisecond})
	h := newHook(t, "x", "ready")
	reg := func(id string) (int, string) {
		r := wire.Registration{Service: "s", InstanceID: id, Tables: []string{"db.t"}, Mode: wire.ModeHTTP, HookURL: h.srv.URL + wire.HookPath, Host: "h"}
		resp, body, _ := signed(t, c.srv.URL, http.MethodPost, wire.PathParticipants, r, secret)
		return resp.StatusCode, string(body)
	}
	for _, id := range []string{"a", "b", "a"} {
		code, body := reg(id)
		require.Equal(t, http.StatusCreated, code, body)
	}
	code, body := reg("c")
	require.Equal(t, http.StatusTooManyRequests, code)
	assert.Contains(t, body, "too many registered instances: 2 registered")
	for _, id := range []string{".", "..", "a b", "a%2e"} {
		code, body := reg(id)
		assert.Equal(t, http.StatusBadRequest, code, "%q: %s", id, body)
	}

	time.Sleep(700 * time.Millisecond) // lapsed (200ms) and past the expiry (300ms)
	assert.Empty(t, c.reg.Participants(), "lapsed registrations expired")
	code, body = reg("c")
	require.Equal(t, http.StatusCreated, code, body)
}
