package ghost

import (
	"testing"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// TestMain lets the test binary be its own gh-ost worker (Start re-executes os.Executable with the
// Sentinel) and checks that the controller side leaks no goroutines.
func TestMain(m *testing.M) {
	MaybeRunWorker()
	sandboxtest.Main(m)
}
