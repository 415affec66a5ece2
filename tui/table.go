package tui

import (
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"
	"github.com/charmbracelet/x/ansi"
)

// grid renders rows under headers as a borderless table no wider than width. Columns keep
// their natural width when the table fits. Otherwise the flex columns (names: tables,
// services, instances, hosts) give way first, in the order given, their cells ending with
// "…", so that headers and short values (a phase, a status) stay whole (issue 13: names were cut
// at fixed widths even at 120 columns). Only when that is not enough does the table component
// shrink the rest. style styles each cell (row table.HeaderRow is the header).
func grid(headers []string, rows [][]string, width int, flex []int, style table.StyleFunc) []string {
	build := func(hs []string, rs [][]string) *table.Table {
		return table.New().Headers(hs...).Rows(rs...).Wrap(false).
			Border(lipgloss.HiddenBorder()).BorderTop(false).BorderBottom(false).BorderLeft(false).
			BorderRight(false).BorderColumn(false).BorderHeader(false).StyleFunc(style)
	}
	out := build(headers, rows).String()
	if over := lipgloss.Width(out) - width; over > 0 {
		rows = shrink(headers, rows, flex, over)
		out = build(headers, rows).String()
	}
	if lipgloss.Width(out) > width {
		out = build(headers, rows).Width(width).String()
	}
	return strings.Split(out, "\n")
}

// shrink cuts the flex columns of rows by over cells in all: the first down to its floor (its
// header's width, at least 4 cells), then the next, and so on.
func shrink(headers []string, rows [][]string, flex []int, over int) [][]string {
	widths := make(map[int]int, len(flex))
	floor := make(map[int]int, len(flex))
	for _, c := range flex {
		floor[c] = max(4, lipgloss.Width(headers[c]))
		for _, r := range rows {
			widths[c] = max(widths[c], lipgloss.Width(r[c]))
		}
	}
	for _, c := range flex {
		cut := min(over, max(0, widths[c]-floor[c]))
		widths[c] -= cut
		over -= cut
	}
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = append([]string(nil), r...)
		for _, c := range flex {
			out[i][c] = ansi.Truncate(r[c], widths[c], "…")
		}
	}
	return out
}
