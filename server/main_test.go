package server_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/ghostgate/ghostgate/runner/ghost"
)

// TestMain lets the test binary be its own gh-ost worker and checks for leaked goroutines.
func TestMain(m *testing.M) {
	ghost.MaybeRunWorker()
	goleak.VerifyTestMain(m)
}
