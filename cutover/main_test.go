package cutover_test

import (
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

func TestMain(m *testing.M) {
	// A catch-all listener for the signal-mode tests, which signal this very process: with a
	// listener installed SIGUSR2 can never take its default action (terminate the test binary),
	// even if it arrives after a test's own listener is gone.
	keep := make(chan os.Signal, 1)
	signal.Notify(keep, syscall.SIGUSR2)
	sandboxtest.Main(m)
}
