package tui

import (
	"fmt"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"

	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/internal/errtext"
)

// participants lists the service instances of the table under a header row: the selected one
// (the one an evict removes) marked with ">", at most maxParticipantRows of them around the
// selection. The table component shrinks the widest columns first, so names stay whole as
// long as the terminal allows.
func (d detailView) participants(s Styles, now time.Time) []string {
	ps := d.view.Participants
	if len(ps) == 0 {
		return []string{s.Header.Render("participants") + s.Dim.Render("  none registered for this table")}
	}
	live := 0
	for _, p := range ps {
		if p.Live {
			live++
		}
	}
	out := []string{s.Header.Render("participants") + s.Dim.Render(fmt.Sprintf("  %d, %d live", len(ps), live))}
	sel := d.selectedIndex()
	first := max(0, min(sel-maxParticipantRows+1, len(ps)-maxParticipantRows))
	first = max(0, min(first, sel))
	end := min(len(ps), first+maxParticipantRows)
	rows := make([][]string, 0, end-first)
	for i := first; i < end; i++ {
		rows = append(rows, participantCells(ps[i], i == sel, d.view.Live, now))
	}
	out = append(out, grid([]string{"", "SERVICE", "INSTANCE", "HOST", "PHASE", "ANSWER", "HEARTBEAT"}, rows, d.width,
		[]int{3, 2, 1, 5}, func(row, col int) lipgloss.Style { // host, instance, service, answer
			switch {
			case col == 0:
				return s.Cell
			case row == table.HeaderRow:
				return s.Header.PaddingRight(1)
			}
			return s.Cell
		})...)
	if more := len(ps) - (end - first); more > 0 {
		out = append(out, s.Dim.Render(fmt.Sprintf("  … %d more (tab selects the next)", more)))
	}
	return out
}

// participantCells are one participant's cells; live says the migration still runs here (so
// an instance not asked yet will be).
func participantCells(p wire.ParticipantStatus, selected, live bool, now time.Time) []string {
	mark := " "
	if selected {
		mark = ">"
	}
	answer := "-"
	switch {
	case p.Phase == "" && live:
		answer = "not asked yet" // prepare goes out once every other condition holds
	case p.Phase == "": // never asked, and nobody will: the migration ended or is not run here
	case !p.Acked:
		answer = "waiting"
	case p.Acked && p.Ready:
		answer = "ready"
	case p.Acked:
		answer = "not ready: " + clean(p.Message)
	}
	beat := ago(now, p.LastBeat)
	if !p.Live {
		beat = "LAPSED, " + beat
	}
	phase := string(p.Phase)
	if phase == "" {
		phase = "-"
	}
	host := clean(p.Host)
	if p.Controller != "" {
		host += " via " + clean(p.Controller) // the controller of the fleet it registered with
	}
	return []string{mark, clean(p.Service), clean(p.InstanceID), host, phase, answer, beat}
}

// eventLog is the header and the last events that fit in h lines (fewer when scrolled up).
func (d detailView) eventLog(s Styles, loc *time.Location, h int) []string {
	head := s.Header.Render("events")
	if d.scroll > 0 {
		head += s.Dim.Render(fmt.Sprintf("  %d newer below (↓ follows)", d.scroll))
	}
	out := []string{head}
	n := h - 1
	end := len(d.events) - d.scroll
	start := max(0, end-n)
	shown := d.events[start:max(start, end)]
	kw := 0 // the kind column is as wide as the widest kind shown: kinds are never cut
	for _, e := range shown {
		kw = max(kw, lipgloss.Width(clean(string(e.Kind))))
	}
	for _, e := range shown {
		out = append(out, s.Dim.Render(e.Time.In(loc).Format("15:04:05"))+" "+pad(clean(string(e.Kind)), kw)+" "+clean(errtext.Clean(e.Message)))
	}
	if len(d.events) == 0 {
		out = append(out, s.Dim.Render("no events yet"))
	}
	return out
}
