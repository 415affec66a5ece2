package graybox_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghostgate/ghostgate/graybox/internal/require"
)

// A service that imports graybox pulls no other module: `go list -m all` of a program that
// imports only graybox (and its wire contract) lists that program and graybox, nothing else —
// no gh-ost, TiDB parser or Prometheus (issue 10). Offline: GOPROXY=off, so any other module
// would fail the build rather than be fetched.
func TestModuleGraphIsGrayboxOnly(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed: %v", err)
	}
	here, err := filepath.Abs(".")
	require.NoError(t, err)
	dir := t.TempDir()
	gomod := "module example.com/svc\n\ngo 1.22\n\nrequire github.com/ghostgate/ghostgate/graybox v0.0.0\n\n" +
		"replace github.com/ghostgate/ghostgate/graybox => " + here + "\n"
	main := `package main

import (
	"net/http"

	"github.com/ghostgate/ghostgate/graybox"
	"github.com/ghostgate/ghostgate/graybox/wire"
)

func main() {
	_ = graybox.ShedWrites(func() bool { return false }, 0, http.NotFoundHandler())
	_ = wire.HookPath
}
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(main), 0o644))
	run := func(args ...string) string {
		cmd := exec.Command(gobin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), out)
		return string(out)
	}
	run("build", "-o", filepath.Join(dir, "svc"), ".")
	mods := strings.Fields(strings.ReplaceAll(run("list", "-m", "-f", "{{.Path}}", "all"), "\n", " "))
	require.Equal(t, []string{"example.com/svc", "github.com/ghostgate/ghostgate/graybox"}, mods)
	for _, bad := range []string{"gh-ost", "pingcap", "prometheus", "github.com/ghostgate/ghostgate "} {
		require.False(t, strings.Contains(strings.Join(mods, " ")+" ", bad), "%s in %v", bad, mods)
	}
}
