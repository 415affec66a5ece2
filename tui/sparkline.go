package tui

import (
	"strings"
	"time"

	"github.com/ghostgate/ghostgate/migration"
)

// sparkBars are the eight heights of a sparkline cell.
var sparkBars = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws the last values of a series as one line of bars scaled to the largest
// value shown (or Floor, when larger), so a flat idle series stays low instead of filling
// the line.
type Sparkline struct {
	width int
	// Floor is the smallest full-scale value: with lag in ms, 100 keeps 3 ms of noise flat.
	Floor float64
}

// SetSize sets the number of cells.
func (s *Sparkline) SetSize(width int) { s.width = max(0, width) }

// View draws the newest values (the oldest are cut); fewer values than cells leave blanks on
// the left, so time always runs to the right edge.
func (s Sparkline) View(values []float64) string {
	if s.width == 0 {
		return ""
	}
	if len(values) > s.width {
		values = values[len(values)-s.width:]
	}
	top := s.Floor
	for _, v := range values {
		top = max(top, v)
	}
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", s.width-len(values)))
	for _, v := range values {
		i := 0
		if top > 0 && v > 0 {
			i = min(len(sparkBars)-1, int(v/top*float64(len(sparkBars)-1)+0.5))
		}
		b.WriteRune(sparkBars[i])
	}
	return b.String()
}

// HistorySize bounds the samples kept per migration: enough for the widest sparkline.
const HistorySize = 120

// History is the bounded series of one migration's replica lag and copy rate, one sample per
// new progress event.
type History struct {
	last time.Time
	lag  []float64 // milliseconds
	rate []float64 // rows per second
}

// Add records p unless it is the sample already recorded (polling sees one event many times).
func (h *History) Add(p *migration.Progress) {
	if p == nil || (!h.last.IsZero() && !p.Time.After(h.last)) {
		return
	}
	h.last = p.Time
	h.lag = appendBounded(h.lag, float64(p.ReplicaLag.Milliseconds()))
	h.rate = appendBounded(h.rate, p.RowsPerSecond)
}

// Lag returns the replica lag samples in milliseconds, oldest first.
func (h *History) Lag() []float64 { return h.lag }

// Rate returns the copy rate samples in rows per second, oldest first.
func (h *History) Rate() []float64 { return h.rate }

func appendBounded(s []float64, v float64) []float64 {
	if len(s) >= HistorySize {
		s = append(s[:0], s[len(s)-HistorySize+1:]...)
	}
	return append(s, v)
}
