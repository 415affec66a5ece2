package cli

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestServiceHealthFlags: serve's --service-health-* flags teach in --help, and a bad value is
// refused before anything starts, naming the flag and the value.
func TestServiceHealthFlags(t *testing.T) {
	r := run(t, "", "serve", "--help")
	require.Equal(t, 0, r.code, r.stderr)
	for _, want := range []string{"--service-health-factor", "its service's own figures from before the migration started",
		"--service-health-min-p99", "--service-health-min-error-rate", "--service-health-min-requests",
		"--service-health-baseline", "--service-health-stale"} {
		require.Contains(t, r.stdout, want)
	}
	t.Setenv(EnvToken, "cli-test-token-0123456789")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--service-health-factor", "0.5"}, "--service-health-factor 0.5: want 0 (off) or at least 1"},
		{[]string{"--service-health-factor", "3", "--service-health-min-p99", "0s"}, "--service-health-min-p99 0s: must be positive"},
		{[]string{"--service-health-min-error-rate", "5"}, "--service-health-min-error-rate 5: want a fraction"},
		{[]string{"--service-health-min-requests", "0"}, "--service-health-min-requests 0: must be at least 1"},
		{[]string{"--service-health-baseline", "1h"}, "--service-health-baseline 1h0m0s: want between 1s and 10m0s"},
		{[]string{"--service-health-stale", "10ms"}, "--service-health-stale 10ms: want at least 100ms"},
	} {
		r := run(t, "", append([]string{"serve", "--listen", "127.0.0.1:0"}, tt.args...)...)
		require.Equal(t, ExitUsage, r.code, "%v: %s", tt.args, r.stderr)
		require.Contains(t, r.stderr, tt.want)
	}
	// Valid flags become the throttle's settings.
	sh, err := ServiceHealthOptions{Factor: 3, MinP99: 80 * time.Millisecond, MinErrorRate: 0.02, MinRequests: 50,
		Baseline: time.Minute, Stale: 2 * time.Second}.config()
	require.NoError(t, err)
	require.Equal(t, 3.0, sh.Factor)
	require.Equal(t, 80*time.Millisecond, sh.MinP99)
	require.Equal(t, int64(50), sh.MinRequests)
	require.Equal(t, time.Minute, sh.BaselineWindow)
	require.NoError(t, sh.Validate())
}
