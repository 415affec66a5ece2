package writerate

import (
	"testing"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// TestMain checks for leaked goroutines (the binlog connection's among them).
func TestMain(m *testing.M) { sandboxtest.Main(m) }
