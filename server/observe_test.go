package server_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/metrics"
	"github.com/ghostgate/ghostgate/server"
)

// TestParticipantCounts: ghostgate_participants counts a real registry's instances by lease.
func TestParticipantCounts(t *testing.T) {
	require.Equal(t, metrics.ParticipantCounts{}, server.ParticipantCounts(nil)(), "no registry: none")
	reg, err := cutover.NewRegistry(cutover.RegistryConfig{Secret: []byte("observe-test-secret-0123456789"), LeaseTTL: 300 * time.Millisecond})
	require.NoError(t, err)
	defer reg.Close()
	for _, id := range []string{"a", "b"} {
		_, err := reg.Register(wire.Registration{Service: "shop", InstanceID: id, Tables: []string{"s.orders"},
			Mode: wire.ModeHTTP, HookURL: "http://127.0.0.1:1/hook", Host: "h"})
		require.NoError(t, err)
	}
	count := server.ParticipantCounts(reg)
	require.Equal(t, metrics.ParticipantCounts{Live: 2}, count())
	require.Eventually(t, func() bool { return count() == metrics.ParticipantCounts{Lapsed: 2} }, 5*time.Second, 20*time.Millisecond)
	_, err = reg.Heartbeat("a", wire.Heartbeat{})
	require.NoError(t, err)
	require.Equal(t, metrics.ParticipantCounts{Live: 1, Lapsed: 1}, count())
}
