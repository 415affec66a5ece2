package tui

import (
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"
)

// grid renders rows under headers as a borderless table no wider than width. Columns keep
// their natural width when the table fits; otherwise the table component shrinks the columns
// with the most slack first and ends a cut cell with "…" (issue 13: names were cut at fixed
// widths even at 120 columns). style styles each cell (row table.HeaderRow is the header).
func grid(headers []string, rows [][]string, width int, style table.StyleFunc) []string {
	build := func() *table.Table {
		return table.New().Headers(headers...).Rows(rows...).Wrap(false).
			Border(lipgloss.HiddenBorder()).BorderTop(false).BorderBottom(false).BorderLeft(false).
			BorderRight(false).BorderColumn(false).BorderHeader(false).StyleFunc(style)
	}
	out := build().String()
	if lipgloss.Width(out) > width {
		out = build().Width(width).String()
	}
	return strings.Split(out, "\n")
}
