package tui

import (
	"fmt"
	"strings"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/migration"
)

// listView is the list of migrations: one row each, a cursor, and scrolling when there are
// more rows than lines.
type listView struct {
	items          []client.MigrationView
	cursor, offset int
	width, height  int
	loaded         bool
}

// SetSize sets the area the list draws in.
func (l *listView) SetSize(w, h int) {
	l.width, l.height = w, h
	l.clamp()
}

// SetItems replaces the rows, keeping the cursor on the migration it was on.
func (l *listView) SetItems(items []client.MigrationView) {
	var cur string
	if v, ok := l.Selected(); ok {
		cur = v.ID
	}
	l.items, l.loaded = items, true
	for i, v := range items {
		if v.ID == cur {
			l.cursor = i
		}
	}
	l.clamp()
}

// Move moves the cursor by d rows.
func (l *listView) Move(d int) {
	l.cursor += d
	l.clamp()
}

// Selected returns the migration under the cursor.
func (l listView) Selected() (client.MigrationView, bool) {
	if l.cursor < 0 || l.cursor >= len(l.items) {
		return client.MigrationView{}, false
	}
	return l.items[l.cursor], true
}

// rows is the number of migration rows that fit: the height less the title and the header.
func (l listView) rows() int { return max(1, l.height-2) }

func (l *listView) clamp() {
	l.cursor = max(0, min(l.cursor, len(l.items)-1))
	if l.cursor < l.offset {
		l.offset = l.cursor
	}
	if l.cursor >= l.offset+l.rows() {
		l.offset = l.cursor - l.rows() + 1
	}
}

// narrow is a width at which the strategy column gives way to the table name.
func (l listView) narrow() bool { return l.width < 70 }

// columns returns the cell widths: table, strategy (unless narrow), status, done, ETA, throttle.
func (l listView) columns() []int {
	if l.narrow() {
		return []int{max(8, l.width-2-4-12-6-7-10), 12, 6, 7, 10}
	}
	return []int{max(8, l.width-2-5-8-12-6-7-16), 8, 12, 6, 7, 16}
}

// cells drops the strategy on a narrow terminal.
func (l listView) cells(c ...string) []string {
	if l.narrow() {
		return append(c[:1:1], c[2:]...)
	}
	return c
}

// View draws the title, the header and the visible rows, padded to the list's height.
func (l listView) View(s Styles, title string) string {
	head := "ghostgate"
	if title != "" {
		head += " · " + clean(title)
	}
	lines := []string{fit(s.Title.Render(head)+s.Dim.Render(fmt.Sprintf("  %d migrations", len(l.items))), l.width)}
	cols := l.columns()
	lines = append(lines, s.Header.Render(fit("  "+joinCols(cols, l.cells("TABLE", "STRATEGY", "STATUS", "DONE", "ETA", "THROTTLED")...), l.width)))
	switch {
	case !l.loaded:
		lines = append(lines, s.Dim.Render("  loading…"))
	case len(l.items) == 0:
		lines = append(lines, s.Dim.Render("  no migrations yet"))
	}
	end := min(len(l.items), l.offset+l.rows())
	for i := l.offset; i < end; i++ {
		lines = append(lines, l.row(s, cols, i))
	}
	return padLines(lines, l.height)
}

func (l listView) row(s Styles, cols []int, i int) string {
	v := l.items[i]
	st := string(v.Status)
	if v.Interrupted {
		st = "interrupted"
	}
	done, eta := "-", "-"
	if p := v.Progress; p != nil {
		done = fmt.Sprintf("%.1f%%", 100*p.Ratio)
		if v.Status == migration.StatusRunning {
			eta = dur(p.ETA)
		}
	}
	if v.Status == migration.StatusComplete {
		done = "100%"
	}
	line := joinCols(cols, l.cells(label(v), clean(v.Strategy), st, done, eta, throttleCell(v))...)
	if i == l.cursor {
		return s.Selected.Render(pad("> "+line, l.width))
	}
	return fit("  "+line, l.width)
}

// throttleCell is the short throttle state of a row.
func throttleCell(v client.MigrationView) string {
	switch {
	case v.Status.Terminal():
		return ""
	case v.Paused:
		return "paused"
	case v.Throttle != nil && v.Throttle.Throttle:
		return "yes: " + string(v.Throttle.Source)
	case v.Progress != nil && v.Progress.Throttled:
		return "yes"
	}
	return "no"
}

// padLines joins lines and pads (or cuts) them to exactly h lines.
func padLines(lines []string, h int) string {
	if len(lines) > h {
		lines = lines[:h]
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}
