package version

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFrom(t *testing.T) {
	bi := func(main string, settings ...string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			b := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: main}}
			for i := 0; i+1 < len(settings); i += 2 {
				b.Settings = append(b.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
			}
			return b, true
		}
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	rev := "0123456789abcdef0123"
	for name, tc := range map[string]struct {
		ldflags string
		read    func() (*debug.BuildInfo, bool)
		want    Info
		line    string
	}{
		"release":  {"", bi("v1.2.3"), Info{Version: "v1.2.3", GoVersion: "go1.99"}, "ghostgate v1.2.3 (go1.99)"},
		"revision": {"", bi("(devel)", "vcs.revision", rev, "vcs.time", "2026-12-01T20:00:00Z"), Info{Version: "0123456789ab", Revision: rev, Time: "2026-12-01T20:00:00Z", GoVersion: "go1.99"}, "ghostgate 0123456789ab (go1.99)"},
		"dirty":    {"", bi("(devel)", "vcs.revision", rev, "vcs.modified", "true"), Info{Version: "0123456789ab+dirty", Revision: rev, Modified: true, GoVersion: "go1.99"}, "ghostgate 0123456789ab+dirty (go1.99)"},
		"ldflags":  {"v2.0.0-rc1", bi("(devel)", "vcs.revision", rev), Info{Version: "v2.0.0-rc1", Revision: rev, GoVersion: "go1.99"}, "ghostgate v2.0.0-rc1 (rev 0123456789ab, go1.99)"},
		"nothing":  {"", none, Info{Version: "devel", GoVersion: runtime.Version()}, "ghostgate devel (" + runtime.Version() + ")"},
	} {
		t.Run(name, func(t *testing.T) {
			got := from(tc.ldflags, tc.read)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.line, got.String())
		})
	}
}

// TestLdflagsOverride builds a binary with -ldflags -X, as a release build does, and checks the
// variable's path in the package doc is the one that takes effect.
func TestLdflagsOverride(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "migrate")
	build := exec.Command("go", "build", "-o", bin, "-ldflags",
		"-X github.com/ghostgate/ghostgate/internal/version.override=v9.8.7-test", "github.com/ghostgate/ghostgate/cmd/migrate")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(bin, "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.True(t, strings.HasPrefix(string(out), "ghostgate v9.8.7-test ("), "%s", out)
	out, err = exec.Command(bin, "--version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "v9.8.7-test")
}
