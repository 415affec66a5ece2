package cli

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/ghostgate/ghostgate/runner/ghost"
)

// TestMain lets the test binary be the gh-ost worker that `migrate run` re-executes.
func TestMain(m *testing.M) {
	ghost.MaybeRunWorker()
	goleak.VerifyTestMain(m)
}
