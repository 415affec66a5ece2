package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/progress"

	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/migration"
)

// maxParticipantRows bounds the participants section; tab cycles through the rest.
const maxParticipantRows = 3

// View draws the migration into the view's area. Sections give way on a short terminal in
// this order: the sparklines, the checklist's passing lines, the participants. ok is false
// when even the rest does not fit with two lines of events: the caller then says the terminal
// is too small.
func (d detailView) View(s Styles, o Options) (body string, ok bool) {
	for _, compact := range []bool{false, true} {
		if body, ok = d.layout(s, o, compact); ok {
			return body, true
		}
	}
	return "", false
}

func (d detailView) layout(s Styles, o Options, compactGate bool) (string, bool) {
	now := o.Now()
	head := append([]string{d.header(s)}, d.progress(s)...)
	core := append([]string{d.state(s, now)}, d.gate(s, compactGate)...)
	parts := d.participants(s, now)
	rest := d.height - len(head) - len(core) - 2
	if rest < 0 {
		return "", false
	}
	showParts := rest >= len(parts)
	if showParts {
		rest -= len(parts)
	}
	showSpark := !compactGate && showParts && rest >= 1
	if !showParts && !compactGate {
		return "", false // give way with the checklist only once the participants are gone
	}
	lines := head
	if showSpark {
		lines = append(lines, d.sparklines(s))
		rest--
	}
	lines = append(lines, core...)
	if showParts {
		lines = append(lines, parts...)
	}
	lines = append(lines, d.eventLog(s, o.Location, rest+2)...)
	for i, l := range lines {
		lines[i] = fit(l, d.width)
	}
	return padLines(lines, d.height), true
}

// header is the first line: what, how, and where in its lifecycle.
func (d detailView) header(s Styles) string {
	v := d.view
	if v.ID == "" {
		return s.Title.Render("migration "+clean(d.id)) + s.Dim.Render("  loading…")
	}
	st := string(v.Status)
	if v.Progress != nil && v.Status == migration.StatusRunning {
		st += " · " + string(v.Progress.Phase)
	}
	if v.Status == migration.StatusReady {
		st += " · waiting at the gate"
	}
	style := s.Warn
	switch v.Status {
	case migration.StatusComplete:
		style = s.OK
	case migration.StatusFailed, migration.StatusCancelled:
		style = s.Bad
	case migration.StatusRunning, migration.StatusCuttingOver:
		style = s.Header
	}
	return s.Title.Render(label(v)) + s.Dim.Render("  "+clean(v.Strategy)+"  ") + style.Render(st) +
		s.Dim.Render("  id "+clean(shortID(v.ID)))
}

// progress is the bar and the figures under it.
func (d detailView) progress(s Styles) []string {
	p := d.view.Progress
	ratio := 0.0
	if p != nil {
		ratio = p.Ratio
	}
	if d.view.Status == migration.StatusComplete {
		ratio = 1
	}
	bar := progress.New(progress.WithoutPercentage(), progress.WithFillCharacters('█', '░'),
		progress.WithSolidFill("#7D56F4"), progress.WithColorProfile(s.Profile))
	bar.Width = max(10, d.width-8)
	line := bar.ViewAs(ratio) + fmt.Sprintf(" %5.1f%%", 100*ratio)
	if p == nil {
		return []string{line, s.Dim.Render("no progress reported yet")}
	}
	figs := []string{fmt.Sprintf("%s / %s rows", count(p.RowsCopied), count(p.RowsEstimated)), rate(p.RowsPerSecond)}
	if d.view.Status == migration.StatusRunning {
		figs = append(figs, "ETA "+dur(p.ETA))
	}
	if p.BacklogEvents > 0 {
		figs = append(figs, "backlog "+count(p.BacklogEvents))
	}
	figs = append(figs, "lag "+dur(p.ReplicaLag))
	return []string{line, strings.Join(figs, " · ")}
}

// sparklines shows replica lag and copy rate over the recent samples, side by side.
func (d detailView) sparklines(s Styles) string {
	var lag, rt []float64
	if d.hist != nil {
		lag, rt = d.hist.Lag(), d.hist.Rate()
	}
	half := d.width / 2
	var sl Sparkline
	sl.SetSize(max(4, half-16))
	sl.Floor = 100 // ms: lag under a tenth of a second stays flat
	lagNow, rateNow := "-", "-"
	if p := d.view.Progress; p != nil {
		lagNow, rateNow = dur(p.ReplicaLag), rate(p.RowsPerSecond)
	}
	left := s.Dim.Render("lag  ") + sl.View(lag) + " " + lagNow
	sl.Floor = 1
	right := s.Dim.Render("rate ") + sl.View(rt) + " " + rateNow
	return pad(left, half) + right
}

// state is the throttle line while the migration runs, its outcome once it ended.
func (d detailView) state(s Styles, now time.Time) string {
	v := d.view
	switch {
	case v.Interrupted:
		return s.Bad.Render("interrupted: "+clean(v.Reason)) + s.Dim.Render("  clean up: "+clean(v.Cleanup))
	case v.Status == migration.StatusComplete:
		return s.OK.Render("complete") + s.Dim.Render(" in "+dur(v.FinishedAt.Sub(v.StartedAt)))
	case v.Status == migration.StatusFailed:
		return s.Bad.Render("failed: " + clean(v.Error))
	case v.Status == migration.StatusCancelled:
		return s.Bad.Render("cancelled") + s.Dim.Render("; the original table is unchanged")
	case v.Paused:
		return s.Warn.Render("paused by an operator") + s.Dim.Render("  (p resumes)")
	}
	if t := v.Throttle; t != nil && t.Throttle {
		line := s.Warn.Render("THROTTLED") + " " + string(t.Source) + ": " + clean(t.Reason)
		if !t.Since.IsZero() {
			line += s.Dim.Render("  for " + dur(now.Sub(t.Since).Truncate(time.Second)))
		}
		return line
	}
	if p := v.Progress; p != nil && p.Throttled {
		return s.Warn.Render("THROTTLED") + " " + clean(p.ThrottleReason)
	}
	return "throttle: " + s.OK.Render("not throttled")
}

// gate is the cut-over gate: its summary and one cell per condition (per failing condition
// when compact).
func (d detailView) gate(s Styles, compact bool) []string {
	v := d.view
	appr := ""
	if v.Approval != "" {
		appr = s.Dim.Render("  approval: " + clean(v.Approval))
	}
	cl := v.Checklist
	switch {
	case v.Approval == "" && v.Strategy != "" && v.Strategy != "ghost":
		return []string{s.Header.Render("gate") + s.Dim.Render("  none: an in-place ALTER has no cut-over")}
	case cl == nil:
		return []string{s.Header.Render("gate") + s.Dim.Render("  not reached yet: it opens after the copy") + appr}
	}
	head := s.Header.Render("gate") + "  " + s.Warn.Render(clean(cl.Summary()))
	switch {
	case cl.Open:
		head = s.Header.Render("gate") + "  " + s.OK.Render("open")
	case cl.Closed != "":
		head = s.Header.Render("gate") + "  " + s.Dim.Render("closed: "+clean(cl.Closed))
	}
	shown := cl.Lines
	if compact {
		shown = cl.Failing()
		if n := len(cl.Lines) - len(shown); n > 0 {
			appr = s.Dim.Render(fmt.Sprintf("  (+%d passing)", n)) + appr
		}
	}
	lines := append([]string{head + appr}, d.checklistRows(s, shown)...)
	for _, l := range cl.Failing() {
		if l.Detail != "" {
			return append(lines, s.Bad.Render("  ✗ ")+clean(lineName(l.Name)+": "+l.Detail))
		}
	}
	return lines
}

// checklistRows lays the conditions out in two columns (one on a narrow terminal), top to
// bottom, then left to right, so they read in the gate's order.
func (d detailView) checklistRows(s Styles, ls []cutover.Line) []string {
	cols := 1
	if d.width >= 72 {
		cols = 2
	}
	rows := (len(ls) + cols - 1) / cols
	w := (d.width - 2*(cols-1)) / cols
	out := make([]string, rows)
	for i, l := range ls {
		r := i % rows
		cell := checkCell(s, l, w)
		if i >= rows {
			out[r] += "  "
		}
		out[r] += cell
	}
	return out
}

func checkCell(s Styles, l cutover.Line, w int) string {
	mark := s.OK.Render("✓")
	if !l.OK {
		mark = s.Bad.Render("✗")
	}
	val := clean(l.Value)
	if l.Limit != "" {
		val += " / " + clean(l.Limit)
	}
	return pad(" "+mark+" "+pad(lineName(l.Name), 12)+" "+val, w)
}

// lineName is a checklist line's name as the checklist shows it: short enough for a column.
func lineName(n string) string {
	switch n {
	case cutover.LineReplicaLag:
		return "replica lag"
	case cutover.LineThreadsRunning:
		return "threads"
	case cutover.LineMDLWaiters:
		return "lock waiters"
	case cutover.LineQPS:
		return "query rate"
	}
	return clean(n)
}
