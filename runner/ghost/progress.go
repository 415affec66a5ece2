package ghost

import (
	"bufio"
	"net"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/github/gh-ost/go/base"

	"github.com/ghostgate/ghostgate/migration"
)

const (
	reportInterval    = 500 * time.Millisecond
	phasePollInterval = 50 * time.Millisecond
	rateWindow        = 5 * time.Second
)

// report sends a progress event every reportInterval, and at once when the phase changes (a
// cut-over can take less than one interval), until stop closes. A phase entered since the last
// poll is still sent when stop closes: on a busy box a whole cut-over (permit, rename, complete)
// can fall between two polls, and the caller must not see a run done that never cut over.
func (w *worker) report(stop <-chan struct{}) {
	t := time.NewTicker(phasePollInterval)
	defer t.Stop()
	var samples []sample
	var backlog int64
	var lastSent, lastBacklog time.Time
	lastPhase := migration.PhaseStarting
	chunks := int64(-1) // a resumed gh-ost starts from its checkpoint's count: no chunk's end
	var chunkAt time.Time
	for {
		var now time.Time
		final := false
		select {
		case <-stop:
			now, final = time.Now(), true
		case now = <-t.C:
		}
		// gh-ost counts its chunks (Iteration, incremented after each chunk's insert in
		// Migrator.iterateChunks, go/logic/migrator.go); seen at every poll, the time of the last
		// change is a chunk's end to within phasePollInterval, which the half-second reports
		// alone could not give: a 0.5 s chunk measured over one report window was 0.5 or 1 s.
		if n := w.mc.GetIteration(); chunks < 0 {
			chunks = n
		} else if n != chunks {
			chunks, chunkAt = n, now
		}
		phase := w.phase()
		if final && phase == lastPhase {
			return
		}
		if !final && phase == lastPhase && now.Sub(lastSent) < reportInterval {
			continue
		}
		p := w.snapshot(now)
		p.ChunksCopied, p.LastChunkAt = chunks, chunkAt
		// Each status request makes gh-ost write a changelog row: ask once a second only.
		if p.Phase != migration.PhaseStarting && now.Sub(lastBacklog) >= time.Second {
			if b, ok := w.backlog(); ok {
				backlog = b
			}
			lastBacklog = now
		}
		p.BacklogEvents = backlog
		samples = appendSample(samples, sample{at: now, rows: p.RowsCopied})
		p.RowsPerSecond = rate(samples)
		fillETA(&p)
		w.out.send(event{Type: evProgress, Progress: &p})
		w.lastSent.Store(&p)
		lastSent, lastPhase = now, p.Phase
		if final {
			return
		}
	}
}

// snapshot reads gh-ost's state through its race-safe accessors only (atomics and mutex-guarded
// getters): the worker runs under the race detector in tests.
func (w *worker) snapshot(now time.Time) migration.Progress {
	mc := w.mc
	p := migration.Progress{Time: now, Phase: w.phase()}
	p.RowsCopied = mc.GetTotalRowsCopied()
	p.ReplicaLag = mc.GetCurrentLagDuration()
	p.NiceRatio = mc.GetNiceRatio()
	throttled, reason, hint := mc.IsThrottled()
	p.Throttled = throttled
	if throttled {
		p.ThrottleReason = reason
		if hint == base.UserCommandThrottleReasonHint {
			w.mu.Lock()
			p.ThrottleReason = w.throttleReason
			w.mu.Unlock()
		}
	}
	if w.batch != nil {
		size, why, rate, secs := w.batch.state()
		p.DMLBatchSize, p.DMLBatchReason, p.ApplyRate, p.ApplyRateSeconds = size, why.String(), rate, secs
	}
	if p.Phase == migration.PhaseStarting {
		return p
	}
	// The estimate is written without atomics before the copy starts; once ElapsedRowCopyTime
	// (mutex-guarded) reports a start, those writes happened before and reading is safe.
	p.RowsEstimated = atomic.LoadInt64(&mc.RowsEstimate) + atomic.LoadInt64(&mc.RowsDeltaEstimate)
	if rc := w.rows.Load(); rc != nil && !w.copyDone.Load() {
		p.RowsEstimated = rc.estimate(p.RowsCopied, p.RowsEstimated, p.Throttled)
	}
	if w.copyDone.Load() || p.RowsEstimated < p.RowsCopied {
		// A statistics estimate can be far below the truth; the copied count is the floor.
		p.RowsEstimated = p.RowsCopied
	}
	p.Ratio = migration.ClampRatio(p.RowsCopied, p.RowsEstimated)
	if !w.copyDone.Load() && p.Ratio > 0.99 {
		p.Ratio = 0.99 // never claim a complete copy before gh-ost says so
	}
	if w.copyDone.Load() || p.RowsEstimated == 0 {
		p.Ratio = 1
	}
	return p
}

// phase maps gh-ost's flags to a migration.Phase.
func (w *worker) phase() migration.Phase {
	mc := w.mc
	switch {
	case atomic.LoadInt64(&mc.InCutOverCriticalSectionFlag) > 0 || atomic.LoadInt64(&mc.CutOverCompleteFlag) > 0:
		return migration.PhaseCutOver
	case w.gate.waiting.Load():
		return migration.PhasePostponing // at the gate: waiting for the controller's permit
	case w.copyDone.Load():
		if granted, _ := w.gate.state(); granted > 0 {
			return migration.PhaseCutOver
		}
		return migration.PhasePostponing
	case mc.ElapsedRowCopyTime() > 0:
		return migration.PhaseCopying
	}
	return migration.PhaseStarting
}

var backlogRE = regexp.MustCompile(`Backlog: (\d+)/`)

// backlog asks gh-ost's own socket for its one-line status ("sup") and reads the length of the
// queue of binlog events not yet applied to the ghost table, which gh-ost exposes nowhere else.
// ok is false when the socket does not answer (it is served from the end of the validation phase
// on); the caller keeps the last known value.
func (w *worker) backlog() (n int64, ok bool) {
	conn, err := net.DialTimeout("unix", w.spec.socketFile(), 200*time.Millisecond)
	if err != nil {
		return 0, false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("sup\n")); err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		if m := backlogRE.FindStringSubmatch(sc.Text()); m != nil {
			n, err := strconv.ParseInt(m[1], 10, 64)
			return max(n-w.noops.pending(), 0), err == nil
		}
	}
	return 0, false
}

type sample struct {
	at   time.Time
	rows int64
}

// appendSample keeps the samples of the last rateWindow.
func appendSample(s []sample, x sample) []sample {
	s = append(s, x)
	i := 0
	for i < len(s)-1 && x.at.Sub(s[i].at) > rateWindow {
		i++
	}
	return s[i:]
}

// rate is rows per second over the samples' window.
func rate(s []sample) float64 {
	if len(s) < 2 {
		return 0
	}
	first, last := s[0], s[len(s)-1]
	secs := last.at.Sub(first.at).Seconds()
	if secs <= 0 || last.rows < first.rows {
		return 0
	}
	return float64(last.rows-first.rows) / secs
}

// fillETA estimates the time left for the copy from the current rate; 0 when done or unknown.
func fillETA(p *migration.Progress) {
	remaining := p.RowsEstimated - p.RowsCopied
	if p.Ratio >= 1 || remaining <= 0 || p.RowsPerSecond <= 0 {
		p.ETA = 0
		return
	}
	p.ETA = time.Duration(float64(remaining) / p.RowsPerSecond * float64(time.Second)).Round(time.Second)
}
