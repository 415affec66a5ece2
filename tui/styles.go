package tui

import (
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// Styles are every style of the TUI, built once from one renderer so that a test can turn
// colour off for all of them at once (a renderer with the termenv.Ascii profile).
type Styles struct {
	Title    lipgloss.Style // the top line
	Header   lipgloss.Style // column headers and section titles
	Selected lipgloss.Style // the row under the cursor
	Cell     lipgloss.Style // a table cell
	Dim      lipgloss.Style // secondary text
	OK       lipgloss.Style // a passing condition, a live participant
	Bad      lipgloss.Style // a failing condition, an error
	Warn     lipgloss.Style // throttled, paused, waiting
	Prompt   lipgloss.Style // a question that waits for a key
	Help     help.Styles
	// Profile is the renderer's colour profile, for components that colour by themselves
	// (the progress bar).
	Profile termenv.Profile
}

// DefaultStyles returns the styles rendered by r (nil: lipgloss's default renderer).
func DefaultStyles(r *lipgloss.Renderer) Styles {
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	dim := r.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "#8A8A8A", Dark: "#777777"})
	return Styles{
		Title:    r.NewStyle().Bold(true).Foreground(lipgloss.AdaptiveColor{Light: "#5A3FC0", Dark: "#A58BFF"}),
		Header:   r.NewStyle().Bold(true),
		Selected: r.NewStyle().Reverse(true),
		Cell:     r.NewStyle().PaddingRight(1),
		Dim:      dim,
		OK:       r.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "#1E7F1E", Dark: "#5FD75F"}),
		Bad:      r.NewStyle().Bold(true).Foreground(lipgloss.AdaptiveColor{Light: "#C0262D", Dark: "#FF5F5F"}),
		Warn:     r.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "#A66300", Dark: "#FFAF00"}),
		Prompt:   r.NewStyle().Bold(true).Foreground(lipgloss.AdaptiveColor{Light: "#A66300", Dark: "#FFAF00"}),
		Help: help.Styles{
			Ellipsis:       dim,
			ShortKey:       r.NewStyle().Bold(true),
			ShortDesc:      dim,
			ShortSeparator: dim,
			FullKey:        r.NewStyle().Bold(true),
			FullDesc:       dim,
			FullSeparator:  dim,
		},
		Profile: r.ColorProfile(),
	}
}
