package cli

import (
	"testing"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/runner/ghost"
)

// TestMain lets the test binary be the gh-ost worker that `migrate run` re-executes, checks for
// leaked goroutines and stops the isolated sandbox pairs (a second cluster) when the tests end.
func TestMain(m *testing.M) {
	ghost.MaybeRunWorker()
	sandboxtest.Main(m)
}
