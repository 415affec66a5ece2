package ghost

import (
	"testing"

	"github.com/ghostgate/ghostgate/planner"
)

// The planner announces the trigger names the engine will give; the two suffixes must agree.
func TestTriggerSuffixMatchesPlanner(t *testing.T) {
	if DefaultTriggerSuffix != planner.TriggerSuffix {
		t.Fatalf("engine suffix %q, planner %q", DefaultTriggerSuffix, planner.TriggerSuffix)
	}
}
