package planner

import (
	"strings"
	"testing"
)

// Triggers are carried over under new names; a name that is taken in the schema or too long is
// refused at plan time, with the trigger named.
func TestTriggerFinding(t *testing.T) {
	long := strings.Repeat("t", 62)
	for _, tc := range []struct {
		name               string
		triggers, inSchema []string
		severity           Severity
		want               string
	}{
		{"renamed", []string{"a", "b_ggt"}, []string{"a", "b_ggt"}, SeverityInfo, "a → a_ggt, b_ggt → b"},
		{"taken", []string{"a"}, []string{"a", "A_GGT"}, SeverityError, "a would become a_ggt, which another trigger of the schema already has"},
		{"too long", []string{long}, []string{long}, SeverityError, "longer than 64 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := triggerFinding(tc.triggers, tc.inSchema)
			if f.Code != CodeTriggers || f.Severity != tc.severity || !strings.Contains(f.Message, tc.want) {
				t.Fatalf("got %+v, want severity %s and %q", f, tc.severity, tc.want)
			}
		})
	}
}
