package planner

import (
	"testing"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// TestMain checks for leaked goroutines and stops the isolated pair of the performance_schema=OFF
// test.
func TestMain(m *testing.M) { sandboxtest.Main(m) }
