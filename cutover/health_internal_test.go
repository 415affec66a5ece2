package cutover

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/runner/throttle"
)

func TestHealthBookKeepsRecentReportsInOrder(t *testing.T) {
	b := newHealthBook()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	fig := func(table string, n int64) []wire.TableHealth {
		return []wire.TableHealth{{Table: table, WindowMillis: 5000, Requests: n, P99Micros: 1000}}
	}
	tables := []string{"shop.orders"}
	for i := range 10 {
		b.record("orders", "api-1", tables, fig("shop.orders", int64(i+1)), t0.Add(time.Duration(i)*time.Second))
	}
	b.record("orders", "api-1", tables, fig("shop.other", 5), t0)                                                       // not registered for it
	b.record("orders", "api-1", tables, []wire.TableHealth{{Table: "shop.orders", WindowMillis: 0}}, t0.Add(time.Hour)) // invalid
	got := b.since("shop.orders", t0.Add(6*time.Second))
	require.Len(t, got, 3, "strictly after the time asked")
	assert.EqualValues(t, 8, got[0].Requests)
	assert.Equal(t, throttle.HealthReport{Service: "orders", Instance: "api-1", At: t0.Add(9 * time.Second), Window: 5 * time.Second,
		Requests: 10, P99: time.Millisecond}, got[2])
	assert.Len(t, b.since("shop.orders", time.Time{}), 10)
	assert.Empty(t, b.since("shop.other", time.Time{}))

	// A report past the retention drops what is older than MaxBaselineWindow before it.
	late := t0.Add(throttle.MaxBaselineWindow + 5500*time.Millisecond)
	b.record("orders", "api-1", tables, fig("shop.orders", 99), late)
	got = b.since("shop.orders", time.Time{})
	require.Len(t, got, 5, "the reports of 5.5s-9s, and the new one")
	assert.Equal(t, t0.Add(6*time.Second), got[0].At)

	// Watching asks for pushes from the instances of the table, until the last watcher leaves.
	assert.Zero(t, b.pushInterval(tables))
	u1, u2 := b.watch("shop.orders"), b.watch("shop.orders")
	assert.Equal(t, DefaultHealthPush, b.pushInterval([]string{"shop.x", "shop.orders"}))
	u1()
	u1()
	assert.Equal(t, DefaultHealthPush, b.pushInterval(tables), "a second unwatch of the same watcher changes nothing")
	u2()
	assert.Zero(t, b.pushInterval(tables))
}
