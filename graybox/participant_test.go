package graybox_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ghostgate/ghostgate/graybox/internal/leak"
	"github.com/ghostgate/ghostgate/graybox/internal/require"

	"github.com/ghostgate/ghostgate/graybox"
	"github.com/ghostgate/ghostgate/graybox/wire"
)

func TestMain(m *testing.M) {
	// A guard listener for SIGUSR2, so that a signal arriving while no participant listens
	// (a bug) fails a test instead of killing the whole test binary. Its buffer of one needs no
	// reader: signal.Notify drops what does not fit.
	guard := make(chan os.Signal, 1)
	signal.Notify(guard, syscall.SIGUSR2)
	leak.VerifyTestMain(m)
}

var secret = []byte("graybox-test-secret-0123456789")

func httpBody(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

// recorder counts callback runs per phase and can make them fail or block.
type recorder struct {
	mu        sync.Mutex
	runs      map[wire.Phase]int
	deadlines []time.Time
	fail      error
	block     bool // wait for ctx.Done, then return its error
}

func (r *recorder) handler(phase wire.Phase) graybox.Handler {
	return func(ctx context.Context, _ wire.PhaseRequest) error {
		r.mu.Lock()
		r.runs[phase]++
		d, _ := ctx.Deadline()
		r.deadlines = append(r.deadlines, d)
		fail, block := r.fail, r.block
		r.mu.Unlock()
		if block {
			<-ctx.Done()
			return ctx.Err()
		}
		return fail
	}
}

func (r *recorder) handlers() graybox.Handlers {
	r.runs = map[wire.Phase]int{}
	return graybox.Handlers{Prepare: r.handler(wire.PhasePrepare), Commit: r.handler(wire.PhaseCommit), Abort: r.handler(wire.PhaseAbort)}
}

func (r *recorder) count(p wire.Phase) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[p]
}

const table = "shop.orders"

func baseConfig(c *controller, id string, mode wire.Mode) graybox.Config {
	return graybox.Config{
		ControllerURL: c.srv.URL, Secret: secret, Service: "orders", InstanceID: id,
		Tables: []string{table}, Versions: map[string]string{table: "v1"}, Mode: mode,
	}
}

// instance is a running participant.
type instance struct {
	p    *graybox.Participant
	hook string // hook URL (http mode)
	rec  *recorder
	stop func() error
}

// start creates a participant (with a hook server in http mode), runs it, and waits until the
// controller has its registration. edit may change the config first.
func start(t *testing.T, c *controller, id string, mode wire.Mode, edit func(*graybox.Config)) *instance {
	t.Helper()
	in := &instance{rec: &recorder{}}
	cfg := baseConfig(c, id, mode)
	var hookSrv *httptest.Server
	if mode == wire.ModeHTTP {
		hookSrv = httptest.NewUnstartedServer(nil)
		cfg.HookURL = "http://" + hookSrv.Listener.Addr().String() + wire.HookPath
		in.hook = cfg.HookURL
	}
	if edit != nil {
		edit(&cfg)
	}
	p, err := graybox.New(cfg, in.rec.handlers())
	require.NoError(t, err)
	in.p = p
	if hookSrv != nil {
		mux := http.NewServeMux()
		mux.Handle("POST "+wire.HookPath, p.Hook())
		hookSrv.Config.Handler = mux
		hookSrv.Start()
		t.Cleanup(hookSrv.Close)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	var runErr error
	in.stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { require.NoError(t, in.stop()) })
	require.Eventually(t, func() bool { _, ok := c.registration(id); return ok }, 5*time.Second, 5*time.Millisecond)
	return in
}

func phaseReq(migration string, phase wire.Phase, attempt int, deadline time.Duration) wire.PhaseRequest {
	return wire.PhaseRequest{
		MigrationID: migration, Schema: "shop", Table: "orders", OldVersion: "v1", NewVersion: "v2",
		Phase: phase, Deadline: time.Now().Add(deadline), Attempt: attempt,
	}
}

// deliver sends req in the instance's mode.
func deliver(t *testing.T, c *controller, mode wire.Mode, id string, req wire.PhaseRequest) wire.Ack {
	t.Helper()
	if mode == wire.ModeHTTP {
		return c.deliverHTTP(t, id, req)
	}
	return c.deliverSignal(t, id, req)
}

func TestTwoPhase(t *testing.T) {
	tests := []struct {
		name    string
		mode    wire.Mode
		final   wire.Phase
		version string
	}{
		{"http prepare commit", wire.ModeHTTP, wire.PhaseCommit, "v2"},
		{"http prepare abort", wire.ModeHTTP, wire.PhaseAbort, "v1"},
		{"signal prepare commit", wire.ModeSignal, wire.PhaseCommit, "v2"},
		{"signal prepare abort", wire.ModeSignal, wire.PhaseAbort, "v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newController(t, secret, 10*time.Second)
			in := start(t, c, "i-1", tt.mode, nil)
			reg, _ := c.registration("i-1")
			require.Equal(t, tt.mode, reg.Mode)
			if tt.mode == wire.ModeSignal {
				require.Equal(t, os.Getpid(), reg.PID)
			} else {
				require.Equal(t, in.hook, reg.HookURL)
			}
			require.False(t, in.p.Migrating())

			ack := deliver(t, c, tt.mode, "i-1", phaseReq("m1", wire.PhasePrepare, 1, 5*time.Second))
			require.Equal(t, wire.Ack{InstanceID: "i-1", MigrationID: "m1", Phase: wire.PhasePrepare, Ready: true}, ack)
			require.True(t, in.p.Migrating())
			require.Equal(t, wire.PhasePrepare, in.p.Phase(table))
			require.Equal(t, "v1", in.p.Version(table))

			ack = deliver(t, c, tt.mode, "i-1", phaseReq("m1", tt.final, 1, 5*time.Second))
			require.True(t, ack.Ready, ack.Message)
			require.Equal(t, tt.final, ack.Phase)
			require.False(t, in.p.Migrating())
			require.Equal(t, tt.final, in.p.Phase(table))
			require.Equal(t, tt.version, in.p.Version(table))
			require.Equal(t, 1, in.rec.count(wire.PhasePrepare))
			require.Equal(t, 1, in.rec.count(tt.final))

			require.NoError(t, in.stop())
			require.Equal(t, 1, c.count("deregister"))
			_, still := c.registration("i-1")
			require.False(t, still)
		})
	}
}

func TestCallbackErrorIsNotReady(t *testing.T) {
	for _, mode := range []wire.Mode{wire.ModeHTTP, wire.ModeSignal} {
		t.Run(string(mode), func(t *testing.T) {
			c := newController(t, secret, 10*time.Second)
			in := start(t, c, "i-1", mode, nil)
			in.rec.fail = errors.New("cache not warm")
			ack := deliver(t, c, mode, "i-1", phaseReq("m1", wire.PhasePrepare, 1, 5*time.Second))
			require.False(t, ack.Ready)
			require.Contains(t, ack.Message, "cache not warm")
			require.False(t, in.p.Migrating())
			require.Equal(t, "v1", in.p.Version(table))

			// Not ready is not remembered: the re-delivery runs the callback again.
			in.rec.mu.Lock()
			in.rec.fail = nil
			in.rec.mu.Unlock()
			ack = deliver(t, c, mode, "i-1", phaseReq("m1", wire.PhasePrepare, 2, 5*time.Second))
			require.True(t, ack.Ready, ack.Message)
			require.Equal(t, 2, in.rec.count(wire.PhasePrepare))
		})
	}
}

func TestIdempotentRedelivery(t *testing.T) {
	for _, mode := range []wire.Mode{wire.ModeHTTP, wire.ModeSignal} {
		t.Run(string(mode), func(t *testing.T) {
			c := newController(t, secret, 10*time.Second)
			in := start(t, c, "i-1", mode, nil)
			first := deliver(t, c, mode, "i-1", phaseReq("m1", wire.PhasePrepare, 1, 5*time.Second))
			second := deliver(t, c, mode, "i-1", phaseReq("m1", wire.PhasePrepare, 2, 5*time.Second))
			require.True(t, first.Ready)
			require.Equal(t, first, second)
			require.Equal(t, 1, in.rec.count(wire.PhasePrepare))
		})
	}
}

func TestConcurrentDuplicatesRunOnce(t *testing.T) {
	c := newController(t, secret, 10*time.Second)
	in := start(t, c, "i-1", wire.ModeHTTP, nil)
	var wg sync.WaitGroup
	var ready atomic.Int32
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if in.p.Apply(context.Background(), phaseReq("m1", wire.PhasePrepare, i+1, 5*time.Second)).Ready {
				ready.Add(1)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 8, ready.Load())
	require.Equal(t, 1, in.rec.count(wire.PhasePrepare))
}

func TestPhaseOrder(t *testing.T) {
	c := newController(t, secret, 10*time.Second)
	in := start(t, c, "i-1", wire.ModeHTTP, nil)
	ctx := context.Background()
	require.True(t, in.p.Apply(ctx, phaseReq("m1", wire.PhasePrepare, 1, 5*time.Second)).Ready)
	require.True(t, in.p.Apply(ctx, phaseReq("m1", wire.PhaseAbort, 1, 5*time.Second)).Ready)
	// A commit after the abort of the same migration contradicts it.
	ack := in.p.Apply(ctx, phaseReq("m1", wire.PhaseCommit, 1, 5*time.Second))
	require.False(t, ack.Ready)
	require.Contains(t, ack.Message, graybox.ErrOutOfOrder.Error())
	// The gate reopens after a failed rename: a new prepare round runs the callback again.
	require.True(t, in.p.Apply(ctx, phaseReq("m1", wire.PhasePrepare, 1, 5*time.Second)).Ready)
	require.Equal(t, 2, in.rec.count(wire.PhasePrepare))
	require.True(t, in.p.Apply(ctx, phaseReq("m1", wire.PhaseCommit, 1, 5*time.Second)).Ready)
	require.Equal(t, "v2", in.p.Version(table))
	// A table the instance does not use.
	other := phaseReq("m2", wire.PhasePrepare, 1, 5*time.Second)
	other.Table = "customers"
	require.False(t, in.p.Apply(ctx, other).Ready)
}

func TestDeadlineExceededInCallback(t *testing.T) {
	for _, mode := range []wire.Mode{wire.ModeHTTP, wire.ModeSignal} {
		t.Run(string(mode), func(t *testing.T) {
			c := newController(t, secret, 10*time.Second)
			in := start(t, c, "i-1", mode, nil)
			in.rec.block = true
			req := phaseReq("m1", wire.PhasePrepare, 1, 300*time.Millisecond)
			began := time.Now()
			ack := deliver(t, c, mode, "i-1", req)
			require.False(t, ack.Ready)
			require.Contains(t, ack.Message, context.DeadlineExceeded.Error())
			require.Less(t, time.Since(began), 5*time.Second)
			in.rec.mu.Lock()
			require.Len(t, in.rec.deadlines, 1)
			require.WithinDuration(t, req.Deadline, in.rec.deadlines[0], time.Millisecond, "callback ctx carries the request's deadline")
			in.rec.mu.Unlock()
			require.False(t, in.p.Migrating())
		})
	}
}

func TestHookRefuses(t *testing.T) {
	c := newController(t, secret, 10*time.Second)
	in := start(t, c, "i-1", wire.ModeHTTP, nil)
	good := []byte(`{"migration_id":"m1","schema":"shop","table":"orders","old_version":"v1","new_version":"v2","phase":"prepare","deadline":"` +
		time.Now().Add(time.Minute).Format(time.RFC3339) + `","attempt":1}`)

	tests := []struct {
		name   string
		body   []byte
		secret []byte
		want   int
	}{
		{"bad signature", good, []byte("some-other-secret-0123456789"), http.StatusUnauthorized},
		{"malformed json", []byte(`{"migration_id":`), secret, http.StatusBadRequest},
		{"invalid request", []byte(`{"migration_id":"m1","phase":"prepare"}`), secret, http.StatusBadRequest},
		{"unknown phase", bytes.Replace(good, []byte(`"prepare"`), []byte(`"rollback"`), 1), secret, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _ := c.post(t, in.hook, tt.body, tt.secret)
			require.Equal(t, tt.want, code)
		})
	}
	t.Run("unsigned", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, in.hook, nil)
		require.NoError(t, err)
		code, _ := c.send(t, req, good)
		require.Equal(t, http.StatusUnauthorized, code)
	})
	t.Run("replay", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, in.hook, nil)
		require.NoError(t, err)
		wire.Sign(req, good, secret, time.Now())
		code, ack := c.send(t, req, good)
		require.Equal(t, http.StatusOK, code)
		require.True(t, ack.Ready)
		code, _ = c.send(t, req, good) // byte for byte the same request
		require.Equal(t, http.StatusUnauthorized, code)
	})
	require.Equal(t, 1, in.rec.count(wire.PhasePrepare), "refused requests run no callback")
}

func TestLeaseRenewalAndReregistration(t *testing.T) {
	// TTL 600 ms, heartbeats every 200 ms: a beat may be 400 ms late before the lease lapses,
	// room enough on a loaded test machine.
	c := newController(t, secret, 600*time.Millisecond)
	var mu sync.Mutex
	kinds := map[graybox.EventKind]int{}
	in := start(t, c, "i-1", wire.ModeHTTP, func(cfg *graybox.Config) {
		cfg.Observe = func(e graybox.Event) {
			mu.Lock()
			kinds[e.Kind]++
			mu.Unlock()
		}
	})
	// Heartbeats at a third of the TTL keep the lease alive.
	require.Eventually(t, func() bool { return c.count("heartbeat") >= 5 }, 5*time.Second, 10*time.Millisecond)
	require.Zero(t, c.count("lapsed"), "the lease lapsed between heartbeats")

	// A restarted controller has forgotten the instance: the next heartbeat gets 404 and the
	// participant registers again.
	c.forget()
	require.Eventually(t, func() bool { return c.count("register") == 2 }, 5*time.Second, 10*time.Millisecond)
	_, ok := c.registration("i-1")
	require.True(t, ok)
	require.NoError(t, in.stop())
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 2, kinds[graybox.EventRegistered])
	require.GreaterOrEqual(t, kinds[graybox.EventHeartbeat], 5)
	require.Equal(t, 1, kinds[graybox.EventDeregistered])
}

// TestSignalPendingSeenOnHeartbeat: a signal can be lost; the heartbeat's "pending" flag makes
// the participant fetch the phase anyway.
func TestSignalPendingSeenOnHeartbeat(t *testing.T) {
	c := newController(t, secret, 300*time.Millisecond)
	in := start(t, c, "i-1", wire.ModeSignal, nil)
	c.setPending("i-1", phaseReq("m1", wire.PhasePrepare, 1, 5*time.Second))
	ack := c.waitAck(t) // no signal sent
	require.True(t, ack.Ready)
	require.True(t, in.p.Migrating())
}

// TestAckDeliveryRetried: a controller that fails to take the ack gets it again, with backoff.
func TestAckDeliveryRetried(t *testing.T) {
	c := newController(t, secret, 10*time.Second)
	in := start(t, c, "i-1", wire.ModeSignal, nil)
	c.mu.Lock()
	c.ackFails = 3
	c.mu.Unlock()
	began := time.Now()
	ack := c.deliverSignal(t, "i-1", phaseReq("m1", wire.PhasePrepare, 1, 5*time.Second))
	require.True(t, ack.Ready)
	require.Equal(t, 3, c.count("ack_failed"))
	// Backoff 50 + 100 + 200 ms between the four attempts.
	require.GreaterOrEqual(t, time.Since(began), 350*time.Millisecond)
	require.Equal(t, 1, in.rec.count(wire.PhasePrepare), "retrying the ack does not re-run the callback")
}

func TestSignalPendingBadResponseSignature(t *testing.T) {
	c := newController(t, secret, 10*time.Second)
	var refused atomic.Int32
	in := start(t, c, "i-1", wire.ModeSignal, func(cfg *graybox.Config) {
		cfg.Observe = func(e graybox.Event) {
			if e.Kind == graybox.EventError && errors.Is(e.Err, wire.ErrBadSignature) {
				refused.Add(1)
			}
		}
	})
	c.mu.Lock()
	c.badSigned = true
	c.mu.Unlock()
	c.setPending("i-1", phaseReq("m1", wire.PhasePrepare, 1, 5*time.Second))
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR2))
	require.Eventually(t, func() bool { return refused.Load() >= 1 }, 5*time.Second, 5*time.Millisecond)
	require.Zero(t, in.rec.count(wire.PhasePrepare), "an unauthenticated instruction must not run")
	require.NoError(t, in.stop()) // stop listening only after the signal was handled
}

func TestRunRefusedForGood(t *testing.T) {
	c := newController(t, secret, 10*time.Second)
	cfg := baseConfig(c, "i-1", wire.ModeSignal)
	cfg.Secret = []byte("a-secret-the-controller-does-not-know")
	p, err := graybox.New(cfg, graybox.Handlers{})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = p.Run(ctx)
	var se *graybox.StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, http.StatusUnauthorized, se.Code)
	require.NoError(t, ctx.Err(), "Run must give up at once, not retry until the context ends")
}

func TestRunWaitsForController(t *testing.T) {
	// A controller that is down: Run retries until ctx ends, then returns nil.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	cfg := graybox.Config{ControllerURL: url, Secret: secret, Service: "s", InstanceID: "i",
		Tables: []string{table}, Mode: wire.ModeHTTP, HookURL: "http://127.0.0.1:1/h"}
	var errs atomic.Int32
	cfg.Observe = func(e graybox.Event) {
		if e.Kind == graybox.EventError {
			errs.Add(1)
		}
	}
	p, err := graybox.New(cfg, graybox.Handlers{})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	require.NoError(t, p.Run(ctx))
	require.GreaterOrEqual(t, errs.Load(), int32(2), "registration retried")
}

// TestHealthTravelsWithHeartbeatsAndPushes: the figures a service records go with every
// heartbeat, and on their own faster interval once the controller asks for them; a service
// that records nothing sends none.
func TestHealthTravelsWithHeartbeatsAndPushes(t *testing.T) {
	c := newController(t, secret, 3*time.Second) // heartbeats every second
	in := start(t, c, "i-1", wire.ModeHTTP, func(cfg *graybox.Config) { cfg.HealthWindow = 10 * time.Second })
	require.Eventually(t, func() bool { return c.count("heartbeat") >= 1 }, 5*time.Second, 10*time.Millisecond)
	h, pushes := c.lastHealth()
	require.Zero(t, len(h), "nothing recorded: no figures")
	require.Zero(t, pushes)

	rec := in.p.Recorder(table)
	require.True(t, rec != nil)
	require.True(t, in.p.Recorder("shop.unknown") == nil)
	for range 100 {
		rec.Observe(20*time.Millisecond, false)
	}
	in.p.Observe(table, 20*time.Millisecond, true)
	beats := c.count("heartbeat")
	require.Eventually(t, func() bool { return c.count("heartbeat") > beats }, 5*time.Second, 10*time.Millisecond)
	h, pushes = c.lastHealth()
	require.Len(t, h, 1)
	require.Equal(t, table, h[0].Table)
	require.EqualValues(t, 101, h[0].Requests)
	require.EqualValues(t, 1, h[0].Errors)
	require.True(t, h[0].P99() >= 20*time.Millisecond, "p99 %v", h[0].P99())
	require.Zero(t, pushes, "no pushes before the controller asks")

	// The controller asks for reports every 100ms: they come between the heartbeats.
	c.askHealth(100 * time.Millisecond)
	require.Eventually(t, func() bool { _, n := c.lastHealth(); return n >= 5 }, 5*time.Second, 10*time.Millisecond)
	// It stops asking: the pushes stop (at most one in flight when it said so).
	c.askHealth(0)
	beats = c.count("heartbeat")
	require.Eventually(t, func() bool { return c.count("heartbeat") > beats }, 5*time.Second, 10*time.Millisecond)
	_, n := c.lastHealth()
	time.Sleep(500 * time.Millisecond)
	_, later := c.lastHealth()
	require.True(t, later <= n+1, "pushes went on after the controller stopped asking: %d then %d", n, later)
	require.NoError(t, in.stop())
}

// TestFailoverToNextController: the controller the participant registered with dies; the
// participant moves to the next of ControllerURLs by itself, registers there, and takes part
// in phases through it. A first controller down at start is skipped the same way.
func TestFailoverToNextController(t *testing.T) {
	c1 := newController(t, secret, 600*time.Millisecond)
	c2 := newController(t, secret, 600*time.Millisecond)
	var failovers atomic.Int32
	in := start(t, c1, "i-1", wire.ModeSignal, func(cfg *graybox.Config) {
		cfg.ControllerURLs = []string{c2.srv.URL + "/"} // a trailing slash is dropped
		cfg.RequestTimeout = time.Second
		cfg.Observe = func(e graybox.Event) {
			if e.Kind == graybox.EventFailover {
				failovers.Add(1)
			}
		}
	})
	require.Zero(t, c2.count("register"))
	// c2 knows the instance already, as a controller of the same fleet does (the registrations
	// are shared): its heartbeat would pass there, but the participant registers again anyway,
	// so that what needs its host (a signal) goes through a live controller.
	reg, _ := c1.registration("i-1")
	c2.mu.Lock()
	c2.regs["i-1"], c2.leases["i-1"] = reg, time.Now().Add(time.Hour)
	c2.mu.Unlock()
	c1.srv.Close() // kill: no more answers
	require.Eventually(t, func() bool { return c2.count("register") == 1 }, 5*time.Second, 10*time.Millisecond,
		"registered again with the next controller")
	require.GreaterOrEqual(t, failovers.Load(), int32(1))
	require.Eventually(t, func() bool { return c2.count("heartbeat") >= 2 }, 5*time.Second, 10*time.Millisecond, "heartbeats go to it")
	ack := c2.deliverSignal(t, "i-1", phaseReq("m-1", wire.PhasePrepare, 1, 5*time.Second))
	require.True(t, ack.Ready, "%+v", ack)
	require.Equal(t, 1, in.rec.count(wire.PhasePrepare))

	// Down at start: the first one is skipped.
	srv := httptest.NewServer(http.NotFoundHandler())
	down := srv.URL
	srv.Close()
	c3 := newController(t, secret, 600*time.Millisecond)
	cfg := graybox.Config{ControllerURL: down, ControllerURLs: []string{c3.srv.URL}, Secret: secret, Service: "s", InstanceID: "i-2",
		Tables: []string{table}, Mode: wire.ModeHTTP, HookURL: "http://127.0.0.1:1/h"}
	p, err := graybox.New(cfg, graybox.Handlers{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	require.Eventually(t, func() bool { _, ok := c3.registration("i-2"); return ok }, 5*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	cfg.ControllerURLs = []string{"ftp://x"}
	_, err = graybox.New(cfg, graybox.Handlers{})
	require.ErrorIs(t, err, graybox.ErrConfig)
	require.Contains(t, err.Error(), "ControllerURLs[0]")
}
