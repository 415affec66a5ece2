package chunk

import "time"

// Meter measures the time of one chunk from the progress reports of a copy: the rows copied
// over a window of reports, the chunk size in force and the window's length. gh-ost sleeps
// nice-ratio times each chunk's time after it (Migrator.iterateChunks → applyCopyRowsQueue,
// go/logic/migrator.go), which the window includes and the Meter takes out: what is sized is the
// chunk's own statement.
type Meter struct {
	size   int64
	nice   float64
	slow   time.Duration // a window this long without a whole chunk measures a slow chunk
	open   bool          // a window is open
	at     time.Time     // its start
	rows   int64         // rows copied at its start
	settle bool          // the next report opens the window: a resize takes effect at the next chunk
}

// NewMeter measures chunks of size rows copied with gh-ost's nice ratio; a chunk not done after
// slow is reported as slow without waiting for it to end.
func NewMeter(size int64, nice float64, slow time.Duration) *Meter {
	return &Meter{size: size, nice: max(nice, 0), slow: slow}
}

// Resize says the chunk size is now n. The chunk in flight is still of the old size, so the
// next window opens at the next report.
func (m *Meter) Resize(n int64) {
	m.size, m.open, m.settle = n, false, true
}

// Observe takes one report (its time, the rows copied so far, whether the copy was held at it)
// and returns the time of one chunk when a window has measured it, zero otherwise.
func (m *Meter) Observe(at time.Time, rows int64, held bool) time.Duration {
	if held || !m.open || m.settle || rows < m.rows {
		// Held time is no chunk's time; a new window opens at the first report after it.
		m.open, m.settle, m.at, m.rows = !held, false, at, rows
		return 0
	}
	elapsed, copied := at.Sub(m.at), rows-m.rows
	if elapsed <= 0 {
		return 0
	}
	var chunk time.Duration
	switch {
	case copied >= 2*m.size || (copied >= m.size && elapsed >= time.Second):
		chunk = time.Duration(float64(elapsed) * float64(m.size) / float64(copied))
	case elapsed >= m.slow:
		// Not one whole chunk in a long window: the chunk takes at least this long (the rows
		// seen may be the end of the one before).
		chunk = elapsed
	default:
		return 0
	}
	m.at, m.rows = at, rows
	return time.Duration(float64(chunk) / (1 + m.nice))
}
