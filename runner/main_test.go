package runner_test

import (
	"testing"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/runner/ghost"
)

// TestMain lets the test binary be its own gh-ost worker and checks for leaked goroutines.
func TestMain(m *testing.M) {
	ghost.MaybeRunWorker()
	sandboxtest.Main(m)
}
