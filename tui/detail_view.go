package tui

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/progress"
	"github.com/charmbracelet/lipgloss"

	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/internal/errtext"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner/throttle"
	"github.com/ghostgate/ghostgate/store"
)

// maxParticipantRows bounds the participants section; tab cycles through the rest.
const maxParticipantRows = 3

// detail levels: how much of the gate and the participants a layout shows.
const (
	levelFull    = iota // sparklines, every checklist line, the participants
	levelCompact        // the failing checklist lines only
	levelMinimal        // the gate's summary line and the participants' count only
)

// View draws the migration into the view's area. Sections give way on a short terminal in
// this order: the sparklines, the checklist's passing lines, the participants' rows, the
// checklist. ok is false when even the rest does not fit with two lines of events: the caller
// then says the terminal is too small.
func (d detailView) View(s Styles, o Options) (body string, ok bool) {
	for _, level := range []int{levelFull, levelCompact, levelMinimal} {
		if body, ok = d.layout(s, o, level); ok {
			return body, true
		}
	}
	return "", false
}

func (d detailView) layout(s Styles, o Options, level int) (string, bool) {
	now := o.Now()
	head := append([]string{d.header(s)}, d.progress(s)...)
	gate := d.gate(s, level >= levelCompact)
	parts := d.participants(s, now)
	if level == levelMinimal {
		gate, parts = gate[:1], parts[:1]
		if d.view.Interrupted {
			gate = nil // nobody watches its gate: the line would only take the command's place
		}
	}
	core := append(d.state(s, now, level == levelMinimal), gate...)
	rest := d.height - len(head) - len(core) - 2
	if rest < 0 {
		return "", false
	}
	showParts := rest >= len(parts)
	if showParts {
		rest -= len(parts)
	}
	showSpark := level == levelFull && showParts && rest >= 1
	if !showParts && level < levelMinimal {
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

// header is the first line: what, how, and where in its lifecycle. An interrupted migration
// says so, whatever status its dead controller left in the store.
func (d detailView) header(s Styles) string {
	v := d.view
	if v.ID == "" {
		return s.Title.Render("migration "+clean(d.id)) + s.Dim.Render("  loading…")
	}
	st := string(v.Status)
	style := s.Warn
	switch {
	case v.Interrupted:
		st, style = "interrupted (was "+string(v.Status)+")", s.Bad
	case v.Status == migration.StatusRunning && v.Paused:
		st += " · paused"
	case v.Progress != nil && v.Status == migration.StatusRunning:
		st += " · " + string(v.Progress.Phase)
		style = s.Header
	case v.Status == migration.StatusReady:
		st += " · at the gate"
	case v.Status == migration.StatusComplete:
		style = s.OK
	case v.Status == migration.StatusFailed, v.Status == migration.StatusCancelled:
		style = s.Bad
	case v.Status == migration.StatusCuttingOver:
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
		figs = append(figs, "ETA "+etaText(*p))
	}
	if p.BacklogEvents > 0 {
		figs = append(figs, "backlog "+count(p.BacklogEvents))
	}
	figs = append(figs, "lag "+dur(p.ReplicaLag))
	lines := []string{line, strings.Join(figs, " · ")}
	if p.ChunkSize > 0 && d.view.Status == migration.StatusRunning {
		// The copy's chunk size and why (sized by time, issue 12).
		chunkLine := fmt.Sprintf("chunk %s rows · %s", count(p.ChunkSize), clean(p.ChunkReason))
		if p.NiceRatio > 0 { // gh-ost sleeps after each chunk (--nice-ratio, migrate nice-ratio)
			chunkLine += " · nice " + strconv.FormatFloat(p.NiceRatio, 'g', -1, 64)
		}
		lines = append(lines, s.Dim.Render(chunkLine))
	}
	if p.DMLBatchSize > 0 && d.view.Status == migration.StatusRunning {
		// The binlog apply batch and why (it grows with the backlog, issue 12).
		lines = append(lines, s.Dim.Render(fmt.Sprintf("apply batch %d events · %s", p.DMLBatchSize, clean(p.DMLBatchReason))))
	}
	return lines
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

// state is the throttle line while the migration runs, its outcome once it ended. The
// outcome of an interrupted migration and its cleanup command wrap onto lines of their own:
// the command must be readable whole, to be copied (issue 13: it was cut at 80 columns).
func (d detailView) state(s Styles, now time.Time, brief bool) []string {
	v := d.view
	switch {
	case v.Interrupted && brief: // the command is what a DBA needs; the reason gives way
		return wrap(s.Bad, "interrupted; clean up with: "+clean(v.Cleanup), d.width)
	case v.Interrupted:
		out := wrap(s.Bad, "interrupted: "+clean(v.Reason), d.width)
		out = append(out, s.Dim.Render("clean up with:"))
		return append(out, wrap(s.Header, "  "+clean(v.Cleanup), d.width)...)
	case v.Status == migration.StatusComplete:
		if o, ok := strings.CutPrefix(d.outcome(), "complete "); ok {
			// The runner's summary: time, rows, cut-over and table lock; the kept original
			// table (the undo point) on a line of its own.
			o, old, kept := strings.Cut(o, ", original table kept as ")
			out := wrap(s.OK, "complete "+o, d.width)
			if kept {
				out = append(out, wrap(s.Dim, "original table kept as "+v.Schema+"."+old, d.width)...)
			}
			return append(out, d.revertLine(s)...)
		}
		return append([]string{s.OK.Render("complete") + s.Dim.Render(" in "+dur(v.FinishedAt.Sub(v.StartedAt)))}, d.revertLine(s)...)
	case v.Status == migration.StatusFailed && brief:
		return []string{s.Bad.Render("failed: " + clean(errtext.Clean(v.Error)))} // cut: the events say more
	case v.Status == migration.StatusFailed:
		return wrap(s.Bad, "failed: "+clean(errtext.Clean(v.Error)), d.width)
	case v.Status == migration.StatusCancelled:
		return []string{s.Bad.Render("cancelled") + s.Dim.Render("; the original table is unchanged")}
	case v.Paused:
		return []string{s.Warn.Render("paused by an operator") + s.Dim.Render("  (p resumes)")}
	}
	if t := v.Throttle; t != nil && t.Throttle {
		line := s.Warn.Render("THROTTLED") + " " + string(t.Source) + ": " + clean(t.Reason)
		if !t.Since.IsZero() {
			line += s.Dim.Render("  for " + dur(now.Sub(t.Since).Truncate(time.Second)))
		}
		if !brief && t.Source == throttle.SourceServiceHealth && lipgloss.Width(line) > d.width {
			// A service's reason ends with the instance to look at (issue 12): wrapped, not cut.
			return wrap(lipgloss.NewStyle(), line, d.width)
		}
		return []string{line}
	}
	if p := v.Progress; p != nil && p.Throttled {
		return []string{s.Warn.Render("THROTTLED") + " " + clean(p.ThrottleReason)}
	}
	return []string{"throttle: " + s.OK.Render("not throttled")}
}

// revertLine says whether the completed migration can be undone, and how, or what closed the
// window (the controller checks it on every read: runner.RevertWindow).
func (d detailView) revertLine(s Styles) []string {
	r := d.view.Revert
	switch {
	case r == nil:
		return nil
	case r.Open:
		return wrap(s.Dim, "r reverts: replays the writes made since "+r.Since.Local().Format(time.DateTime)+
			" into "+clean(r.OldTable)+" and swaps it back, through the gate", d.width)
	}
	return wrap(s.Dim, "revert not possible: "+clean(errtext.Clean(r.Reason)), d.width)
}

// outcome is the result of a completed migration as its final transition recorded it: the
// time, the rows, the cut-over and how long the table was locked, the kept original table.
func (d detailView) outcome() string {
	for i := len(d.events) - 1; i >= 0; i-- {
		e := d.events[i]
		if e.Kind != store.EventTransition {
			continue
		}
		var t struct{ To string }
		if json.Unmarshal(e.Data, &t) == nil && t.To == string(migration.StatusComplete) {
			return clean(e.Message)
		}
	}
	return ""
}

// wrap renders text in st, wrapped at width (words longer than a line are cut into lines).
func wrap(st lipgloss.Style, text string, width int) []string {
	return strings.Split(st.Width(max(1, width)).Render(text), "\n")
}

// gate is the cut-over gate: its summary and one cell per condition (per failing condition
// when compact). Pending conditions (a checksum running, participants not asked until the
// others hold) are not failures: they read as such only once they are.
func (d detailView) gate(s Styles, compact bool) []string {
	v := d.view
	appr := ""
	if v.Approval != "" {
		appr = s.Dim.Render("  approval: " + clean(v.Approval))
	}
	cl := v.Checklist
	title := s.Header.Render("gate")
	switch {
	case v.Approval == "" && v.Strategy != "" && v.Strategy != "ghost":
		return []string{title + s.Dim.Render("  none: an in-place ALTER has no cut-over")}
	case cl == nil && v.Interrupted:
		return []string{title + s.Dim.Render("  not watched: the controller that ran it is gone")}
	case cl == nil && v.Status.Terminal():
		return []string{title + s.Dim.Render("  never reached")}
	case cl == nil:
		return []string{title + s.Dim.Render("  not reached yet: it opens after the copy") + appr}
	}
	if cl.Closed != "" {
		// The gate stopped waiting: its last lines are history, not a state to act on (a
		// "running" checksum there would not be running any more).
		return []string{title + "  " + s.Bad.Render("closed: "+clean(cl.Closed)) +
			s.Dim.Render(" · it was "+gateSummary(*cl))}
	}
	appr = "" // the approval line of the checklist says it
	head := title + "  " + s.Warn.Render(gateSummary(*cl))
	if cl.Open {
		head = title + "  " + s.OK.Render("open")
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
		if l.Detail != "" && !l.Pending {
			return append(lines, s.Bad.Render("  ✗ ")+clean(lineName(l.Name)+": "+l.Detail))
		}
	}
	return lines
}

// gateSummary names what the gate waits for: the failing conditions, then the pending ones.
func gateSummary(cl cutover.Checklist) string { return cl.Waiting(lineName) }

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

// checkCell is one condition: ✓ passing, … pending (running, not asked yet), ✗ failing.
func checkCell(s Styles, l cutover.Line, w int) string {
	mark := s.OK.Render("✓")
	switch {
	case l.Pending:
		mark = s.Warn.Render("…")
	case !l.OK:
		mark = s.Bad.Render("✗")
	}
	val := clean(l.Value)
	if l.Limit != "" && !l.Pending {
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
