package chunk

import "time"

// Meter measures the time of one chunk from the progress reports of a copy. The worker counts
// gh-ost's chunks and notes when the last one was seen done (migration.Progress.ChunksCopied and
// LastChunkAt, to 50ms): a window runs from one chunk's end to a later one's, and its length over
// the chunks ended in it is a chunk's time. The half-second reports alone gave a 0.5 s chunk as
// 0.5 or 1 s (one or two chunks ended in a window of two reports), and the sizer halved chunks
// that were on target (BENCHMARKS.md, "Chunk timing"). gh-ost sleeps nice-ratio times each
// chunk's time after it (Migrator.iterateChunks → applyCopyRowsQueue, go/logic/migrator.go),
// which the window includes and the Meter takes out: what is sized is the chunk's own statement.
type Meter struct {
	nice float64
	slow time.Duration // this long without a chunk's end measures a slow chunk
	min  time.Duration // the shortest window measured: several of the worker's 50ms polls

	// A window is open from a chunk's end (at, with chunks copied then). Until one opens (at
	// the start, after a resize, after held time) the Meter waits for a chunk to end after
	// since: the chunk in flight at a resize is of the old size and its end starts the new
	// size's window; time held is no chunk's time.
	open   bool
	at     time.Time
	chunks int64
	since  time.Time
}

// Obs is one progress report as the Meter sees it.
type Obs struct {
	At          time.Time // the report's time
	Chunks      int64     // chunks copied so far
	LastChunkAt time.Time // when the last of them ended
	Held        bool      // the copy was held (throttled, paused) at the report
}

// NewMeter measures chunks copied with gh-ost's nice ratio; a chunk not done after slow is
// reported as slow without waiting for it to end.
func NewMeter(nice float64, slow time.Duration) *Meter {
	return &Meter{nice: max(nice, 0), slow: slow, min: 400 * time.Millisecond}
}

// SetNice says gh-ost's nice ratio changed at now (an operator's): the chunks in the open window
// slept the old ratio, so the next window opens at the next chunk's end, as after a resize.
func (m *Meter) SetNice(nice float64, now time.Time) {
	m.nice = max(nice, 0)
	m.Resize(now)
}

// Resize says the chunk size changed at now. The chunk in flight is still of the old size: the
// new size's window opens at the next chunk's end.
func (m *Meter) Resize(now time.Time) { m.open, m.since = false, now }

// Observe takes one report and returns the time of one chunk when a window has measured it, zero
// otherwise.
func (m *Meter) Observe(o Obs) time.Duration {
	switch {
	case o.Held:
		m.open, m.since = false, o.At
		return 0
	case !m.open:
		if o.LastChunkAt.After(m.since) {
			m.open, m.at, m.chunks = true, o.LastChunkAt, o.Chunks
			return 0
		}
		if !m.since.IsZero() && o.At.Sub(m.since) >= m.slow {
			// Not even the chunk in flight ended: it takes at least this long. Once a slow time.
			waited := o.At.Sub(m.since)
			m.since = o.At
			return m.own(waited)
		}
		return 0
	case o.Chunks < m.chunks:
		m.open, m.since = false, o.At // a new worker counts from its checkpoint
		return 0
	case o.Chunks == m.chunks:
		if waited := o.At.Sub(m.at); waited >= m.slow {
			return m.own(waited) // no chunk ended in a long window: the one in flight is slow
		}
		return 0
	}
	elapsed := o.LastChunkAt.Sub(m.at)
	if elapsed < m.min {
		return 0 // too short to measure at the polls' resolution: the window grows
	}
	n := o.Chunks - m.chunks
	m.at, m.chunks = o.LastChunkAt, o.Chunks
	return m.own(elapsed / time.Duration(n))
}

// own takes gh-ost's nice sleep out of a chunk's cycle.
func (m *Meter) own(cycle time.Duration) time.Duration {
	return time.Duration(float64(cycle) / (1 + m.nice))
}
