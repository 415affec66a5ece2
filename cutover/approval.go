package cutover

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ApprovalMode is how the gate gets its approval, the last condition of the checklist.
type ApprovalMode string

// Approval modes.
const (
	// ApprovalAuto approves at once (CI, unattended runs).
	ApprovalAuto ApprovalMode = "auto"
	// ApprovalManual waits for Gate.Approve (API, CLI, TUI).
	ApprovalManual ApprovalMode = "manual"
	// ApprovalWindow approves while the wall clock is inside a daily window.
	ApprovalWindow ApprovalMode = "window"
)

// Approval is the approval setting of one migration.
type Approval struct {
	Mode ApprovalMode
	// From and To bound the daily window (ApprovalWindow) as offsets from midnight in Location:
	// the window is [From, To); when From > To it crosses midnight (22:00-02:00).
	From, To time.Duration
	// Location is the time zone of the window; nil means UTC.
	Location *time.Location
}

// ErrBadApproval is wrapped by every approval parse or validation error.
var ErrBadApproval = errors.New("cutover: bad approval")

// ParseApproval reads "auto", "manual" or a window "HH:MM-HH:MM" in loc (nil: UTC).
func ParseApproval(s string, loc *time.Location) (Approval, error) {
	switch s = strings.TrimSpace(s); ApprovalMode(s) {
	case ApprovalAuto, ApprovalManual:
		return Approval{Mode: ApprovalMode(s)}, nil
	}
	fromText, toText, ok := strings.Cut(s, "-")
	if !ok {
		return Approval{}, fmt.Errorf("%w: %q: want auto, manual or HH:MM-HH:MM", ErrBadApproval, s)
	}
	from, err := clockOffset(fromText)
	if err != nil {
		return Approval{}, err
	}
	to, err := clockOffset(toText)
	if err != nil {
		return Approval{}, err
	}
	a := Approval{Mode: ApprovalWindow, From: from, To: to, Location: loc}
	return a, a.Validate()
}

func clockOffset(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not HH:MM", ErrBadApproval, s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// Validate checks the mode and, for a window, its bounds.
func (a Approval) Validate() error {
	switch a.Mode {
	case ApprovalAuto, ApprovalManual:
		return nil
	case ApprovalWindow:
		day := 24 * time.Hour
		if a.From < 0 || a.From >= day || a.To < 0 || a.To >= day {
			return fmt.Errorf("%w: window bounds must be within a day", ErrBadApproval)
		}
		if a.From == a.To {
			return fmt.Errorf("%w: empty window %s", ErrBadApproval, a)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown mode %q", ErrBadApproval, a.Mode)
}

func (a Approval) location() *time.Location {
	if a.Location == nil {
		return time.UTC
	}
	return a.Location
}

// String is "auto", "manual" or "02:00-04:00 Europe/Berlin".
func (a Approval) String() string {
	if a.Mode != ApprovalWindow {
		return string(a.Mode)
	}
	return fmt.Sprintf("%s-%s %s", clock(a.From), clock(a.To), a.location())
}

func clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// sinceMidnight is the wall-clock offset of t in its own location. It counts hours on the clock
// face, not elapsed time, so that on a DST change day "02:00-04:00" still means what it says.
func sinceMidnight(t time.Time) time.Duration {
	h, m, s := t.Clock()
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second +
		time.Duration(t.Nanosecond())
}

// InWindow reports whether t is inside the window (always false for other modes).
func (a Approval) InWindow(t time.Time) bool {
	if a.Mode != ApprovalWindow {
		return false
	}
	m := sinceMidnight(t.In(a.location()))
	if a.From < a.To {
		return m >= a.From && m < a.To
	}
	return m >= a.From || m < a.To // crosses midnight
}
