package tui

import (
	"fmt"
	"time"

	"github.com/ghostgate/ghostgate/wire"
)

// participants lists the service instances of the table: the selected one (the one an evict
// removes) marked with ">", at most maxParticipantRows of them around the selection.
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
	for i := first; i < end; i++ {
		out = append(out, participantRow(s, ps[i], i == sel, d.width, now))
	}
	if more := len(ps) - (end - first); more > 0 {
		out = append(out, s.Dim.Render(fmt.Sprintf("  … %d more (tab selects the next)", more)))
	}
	return out
}

func participantRow(s Styles, p wire.ParticipantStatus, selected bool, width int, now time.Time) string {
	mark := "  "
	if selected {
		mark = "> "
	}
	answer := "-"
	switch {
	case p.Phase != "" && !p.Acked:
		answer = "waiting"
	case p.Acked && p.Ready:
		answer = s.OK.Render("ready")
	case p.Acked:
		answer = s.Bad.Render("not ready") + " " + clean(p.Message)
	}
	beat := "beat " + ago(now, p.LastBeat)
	if !p.Live {
		beat = s.Bad.Render("lapsed") + ", " + beat
	}
	phase := string(p.Phase)
	if phase == "" {
		phase = "-"
	}
	cols := []int{12, 10, 8, 7, 10, max(4, width-2-12-10-8-7-10-5)}
	return mark + joinCols(cols, clean(p.Service), clean(p.InstanceID), clean(p.Host), phase, answer, beat)
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
	for _, e := range d.events[start:max(start, end)] {
		out = append(out, s.Dim.Render(e.Time.In(loc).Format("15:04:05"))+" "+pad(clean(string(e.Kind)), 10)+" "+clean(e.Message))
	}
	if len(d.events) == 0 {
		out = append(out, s.Dim.Render("no events yet"))
	}
	return out
}
