package tui

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/charmbracelet/lipgloss"

	"github.com/ghostgate/ghostgate/migration"
)

// clean makes text that came from the API safe to put on the screen: control characters (an
// escape sequence in an error message, a stray newline from a DDL) would move the cursor or
// break the layout, so they become spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// fit cuts s (which may hold styles) to at most w cells, ending with "…" when it was cut.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if lipgloss.Width(s) <= w {
		return s
	}
	return lipgloss.NewStyle().MaxWidth(w-1).Render(s) + "…"
}

// pad fits s into exactly w cells.
func pad(s string, w int) string {
	s = fit(s, w)
	if n := w - lipgloss.Width(s); n > 0 {
		s += strings.Repeat(" ", n)
	}
	return s
}

// count prints a row count with thousands separators: 1,234,567.
func count(n int64) string {
	if n < 0 {
		return "-" + count(-n)
	}
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// rate prints rows per second compactly: 950/s, 12.3k/s, 1.2M/s.
func rate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.1fM/s", r/1e6)
	case r >= 1e4:
		return fmt.Sprintf("%.1fk/s", r/1e3)
	default:
		return fmt.Sprintf("%.0f/s", r)
	}
}

// dur prints a duration for people: 850ms, 12s, 3m05s, 2h10m; "-" when unknown.
func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// ago prints how long before now t was: "3s ago"; "never" for the zero time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	}
	return dur(d) + " ago"
}

// shortID is the tail of a migration id, unique enough on a screen.
func shortID(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}

// joinCols lays out cells of the given widths separated by one space.
func joinCols(widths []int, cells ...string) string {
	parts := make([]string, len(cells))
	for i, c := range cells {
		if i == len(cells)-1 {
			parts[i] = fit(c, widths[i])
			continue
		}
		parts[i] = pad(c, widths[i])
	}
	return strings.Join(parts, " ")
}

// etaText is a progress's ETA as far as it is a promise: "held" while paused or throttled,
// "-" while the copy's rate is still being measured (issue 12: no stale figure).
func etaText(p migration.Progress) string {
	switch p.ETAState {
	case migration.ETAHeld:
		return "held"
	case migration.ETAEstimating:
		return "-"
	}
	return dur(p.ETA)
}
