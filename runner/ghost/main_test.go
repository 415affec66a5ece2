package ghost

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain lets the test binary be its own gh-ost worker (Start re-executes os.Executable with the
// Sentinel) and checks that the controller side leaks no goroutines.
func TestMain(m *testing.M) {
	MaybeRunWorker()
	goleak.VerifyTestMain(m)
}
