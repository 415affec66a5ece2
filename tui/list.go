package tui

import (
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/migration"
)

// listView is the list of migrations: those needing action first, then newest first; a
// cursor, scrolling with an indicator, and a filter.
type listView struct {
	all            []client.MigrationView // as the API returned them
	items          []client.MigrationView // ordered and filtered: the rows
	cursor, offset int
	width, height  int
	loaded         bool
	filter         string
	input          *lineInput // set while the filter is being typed
	now            time.Time
}

// SetSize sets the area the list draws in.
func (l *listView) SetSize(w, h int) {
	l.width, l.height = w, h
	l.clamp()
}

// SetItems replaces the migrations (ordered as of now), keeping the cursor on the migration
// it was on.
func (l *listView) SetItems(items []client.MigrationView, now time.Time) {
	l.all, l.loaded, l.now = items, true, now
	l.refilter()
}

// refilter rebuilds the rows from all, keeping the cursor on its migration when still listed.
func (l *listView) refilter() {
	var cur string
	if v, ok := l.Selected(); ok {
		cur = v.ID
	}
	l.items = l.items[:0]
	for _, v := range order(l.all, l.now) {
		if matches(v, l.currentFilter()) {
			l.items = append(l.items, v)
		}
	}
	for i, v := range l.items {
		if v.ID == cur {
			l.cursor = i
		}
	}
	l.clamp()
}

// currentFilter is the filter as typed so far, or the one applied.
func (l listView) currentFilter() string {
	if l.input != nil {
		return l.input.value
	}
	return l.filter
}

// StartFilter opens the filter input with the current filter.
func (l *listView) StartFilter() {
	l.input = &lineInput{value: l.filter, limit: 64, accept: func(r rune) bool { return r >= ' ' }}
}

// Filtering reports whether the filter input is open.
func (l listView) Filtering() bool { return l.input != nil }

// FilterKey applies a key to the open filter: enter keeps it, esc clears it.
func (l *listView) FilterKey(k tea.KeyMsg) {
	switch k.Type {
	case tea.KeyEnter:
		l.filter, l.input = l.input.value, nil
	case tea.KeyEsc, tea.KeyCtrlC:
		l.filter, l.input = "", nil
	default:
		in := l.input.update(k)
		l.input = &in
	}
	l.cursor = 0
	l.refilter()
}

// Move moves the cursor by d rows.
func (l *listView) Move(d int) {
	l.cursor += d
	l.clamp()
}

// Top and Bottom jump to the first and the last row; Page moves by a screenful.
func (l *listView) Top()       { l.cursor = 0; l.clamp() }
func (l *listView) Bottom()    { l.cursor = len(l.items) - 1; l.clamp() }
func (l *listView) Page(d int) { l.Move(d * l.rows()) }

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
	l.offset = max(0, min(l.offset, len(l.items)-l.rows()))
	if l.cursor < l.offset {
		l.offset = l.cursor
	}
	if l.cursor >= l.offset+l.rows() {
		l.offset = l.cursor - l.rows() + 1
	}
}

// narrow is a width at which the id and strategy columns give way to the table name; below
// narrowest the ETA and the throttle state do too.
func (l listView) narrow() bool { return l.width < 70 }

const narrowest = 50

// View draws the title (with the scroll position and the filter), the header and the
// visible rows, padded to the list's height.
func (l listView) View(s Styles, title string) string {
	lines := []string{l.titleLine(s, title)}
	switch {
	case !l.loaded:
		return padLines(append(lines, s.Dim.Render("  loading…")), l.height)
	case len(l.items) == 0 && len(l.all) > 0:
		return padLines(append(lines, s.Dim.Render("  no migration matches the filter (/ changes it, esc in it clears)")), l.height)
	case len(l.items) == 0:
		return padLines(append(lines, s.Dim.Render("  no migrations yet")), l.height)
	}
	end := min(len(l.items), l.offset+l.rows())
	headers := []string{"", "ID", "TABLE", "STRATEGY", "STATUS", "DONE", "ETA", "THROTTLED"}
	switch {
	case l.width < narrowest:
		headers = headers[:1:1]
		headers = append(headers, "TABLE", "STATUS", "DONE")
	case l.narrow():
		headers = []string{"", "TABLE", "STATUS", "DONE", "ETA", "THROTTLED"}
	}
	rows := make([][]string, 0, end-l.offset)
	for i := l.offset; i < end; i++ {
		rows = append(rows, l.cells(l.items[i], i == l.cursor))
	}
	flex := []int{7, 2} // the throttle reason, then the table's name
	switch {
	case l.width < narrowest:
		flex = []int{1}
	case l.narrow():
		flex = []int{5, 1}
	}
	lines = append(lines, grid(headers, rows, l.width, flex, func(row, col int) lipgloss.Style {
		st := s.Cell
		switch {
		case row == table.HeaderRow:
			st = s.Header.PaddingRight(1)
		case l.offset+row == l.cursor:
			st = s.Selected.PaddingRight(1)
		}
		if col == 0 {
			st = st.PaddingRight(0)
		}
		return st
	})...)
	for i, ln := range lines {
		lines[i] = fit(ln, l.width)
	}
	return padLines(lines, l.height)
}

// titleLine is the top line: the controller, how many migrations, which of them are shown.
func (l listView) titleLine(s Styles, title string) string {
	head := "ghostgate"
	if title != "" {
		head += " · " + clean(title)
	}
	n := fmt.Sprintf("  %d migrations", len(l.all))
	if f := l.currentFilter(); f != "" || l.input != nil {
		n = fmt.Sprintf("  %d of %d match /%s", len(l.items), len(l.all), clean(f))
		if l.input != nil {
			n += "▏"
		}
	}
	if len(l.items) > l.rows() {
		end := min(len(l.items), l.offset+l.rows())
		n += fmt.Sprintf(" · rows %d-%d", l.offset+1, end)
		if l.offset > 0 {
			n += " ↑"
		}
		if end < len(l.items) {
			n += fmt.Sprintf(" ↓%d more", len(l.items)-end)
		}
	}
	return fit(s.Title.Render(head)+s.Dim.Render(n), l.width)
}

// cells are the cells of one row; the first marks the cursor (">", readable without colour)
// and a migration needing action ("!").
func (l listView) cells(v client.MigrationView, cursor bool) []string {
	mark := []byte("  ")
	if cursor {
		mark[0] = '>'
	}
	if needsAction(v, l.now) {
		mark[1] = '!'
	}
	done, eta := "-", "-"
	if p := v.Progress; p != nil {
		done = fmt.Sprintf("%.1f%%", 100*p.Ratio)
		if v.Status == migration.StatusRunning {
			eta = etaText(*p)
		}
	}
	if v.Status == migration.StatusComplete {
		done = "100%"
	}
	switch {
	case l.width < narrowest:
		return []string{string(mark), label(v), statusText(v), done}
	case l.narrow():
		return []string{string(mark), label(v), statusText(v), done, eta, throttleCell(v)}
	}
	return []string{string(mark), clean(shortID(v.ID)), label(v), clean(v.Strategy), statusText(v), done, eta, throttleCell(v)}
}

// throttleCell is the short throttle state of a row.
func throttleCell(v client.MigrationView) string {
	switch {
	case v.Status.Terminal() || v.Interrupted:
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
