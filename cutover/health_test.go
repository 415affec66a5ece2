package cutover_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/graybox"
	"github.com/ghostgate/ghostgate/graybox/wire"
)

// TestHealthReports: a real participant's figures reach the registry with its heartbeats; while
// a throttler watches the table the participant is asked for faster reports, and stops when
// the watch ends. A report for a table the instance did not register is dropped; a malformed one
// is refused.
func TestHealthReports(t *testing.T) {
	c := newController(t, cutover.RegistryConfig{LeaseTTL: 6 * time.Second}) // heartbeats every 2s
	p, err := graybox.New(graybox.Config{ControllerURL: c.srv.URL, Secret: secret, Service: "orders", InstanceID: "api-1",
		Tables: []string{"shop.orders"}, Mode: wire.ModeSignal, HealthWindow: 10 * time.Second}, graybox.Handlers{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	src := c.reg.HealthSource("shop.orders")

	rec := p.Recorder("shop.orders")
	for range 50 {
		rec.Observe(12*time.Millisecond, false)
	}
	t0 := time.Now()
	require.Eventually(t, func() bool { return len(src.HealthReports(t0)) > 0 }, 5*time.Second, 20*time.Millisecond, "figures with a heartbeat")
	r := src.HealthReports(t0)[0]
	assert.Equal(t, "orders", r.Service)
	assert.Equal(t, "api-1", r.Instance)
	assert.EqualValues(t, 50, r.Requests)
	assert.True(t, r.P99 >= 12*time.Millisecond && r.P99 < 16*time.Millisecond, "p99 %v", r.P99)
	assert.Equal(t, 10*time.Second, r.Window)

	// Watched: the next heartbeat asks for pushes every 250ms; a second brings several.
	unwatch := src.WatchHealth()
	t1 := time.Now()
	require.Eventually(t, func() bool { return len(src.HealthReports(t1)) >= 2 }, 5*time.Second, 20*time.Millisecond)
	t2 := time.Now()
	time.Sleep(time.Second)
	n := len(src.HealthReports(t2))
	assert.True(t, n >= 3, "%d reports in a second while watched", n)
	unwatch()
	unwatch() // idempotent
	// Once the next heartbeat says so, the pushes stop: at most a heartbeat a second or two.
	time.Sleep(2500 * time.Millisecond)
	t3 := time.Now()
	time.Sleep(1500 * time.Millisecond)
	assert.True(t, len(src.HealthReports(t3)) <= 1, "pushes go on unwatched: %d", len(src.HealthReports(t3)))

	// Figures for a table the instance did not register are dropped; nonsense is refused.
	resp, body, _ := signed(t, c.srv.URL, http.MethodPost, wire.ParticipantPath(wire.PathHealth, "api-1"),
		wire.HealthReport{InstanceID: "api-1", Tables: []wire.TableHealth{{Table: "shop.other", WindowMillis: 1000, Requests: 5}}}, secret)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Empty(t, c.reg.HealthSource("shop.other").HealthReports(time.Time{}))
	resp, body, _ = signed(t, c.srv.URL, http.MethodPost, wire.ParticipantPath(wire.PathHealth, "api-1"),
		wire.HealthReport{InstanceID: "api-1", Tables: []wire.TableHealth{{Table: "shop.orders", WindowMillis: 1000, Requests: 1, Errors: 2}}}, secret)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
	assert.Contains(t, string(body), "more errors than requests")
	resp, _, _ = signed(t, c.srv.URL, http.MethodPost, wire.ParticipantPath(wire.PathHealth, "nobody"),
		wire.HealthReport{InstanceID: "nobody"}, secret)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}
