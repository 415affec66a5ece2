package ghost

import (
	"context"
	"time"
)

// Why the gate waits for the apply loop: the waker (waker.go) starts when the row copy is
// complete, but gh-ost's apply loop (go/logic/migrator.go executeWriteFuncs) usually finds both
// its queues empty right after the last chunk, before the OnRowCopyComplete hook has run, and
// goes into its one-second sleep; the waker cannot cut that sleep short. A permit that came
// during that second started the cut-over with the loop still asleep, and the "all events up to
// lock" marker waited for it with the table locked: measured with BenchmarkCutOver, about 700 ms
// of table lock in every run whose permit followed the copy within a second.
//
// OnBeforeCutOver therefore reports the gate only once one of the waker's no-ops has run after
// the copy, which proves the loop is out of its sleep and kept awake from then on. It costs at
// most that one second, before the gate, with no lock held.
const awakeTimeout = 3 * time.Second

// awaitApplyLoop returns once a waker no-op has run after it was called, when ctx ends, or after
// awakeTimeout (the cut-over then proceeds as it would without the waker).
func (w *worker) awaitApplyLoop(ctx context.Context) {
	start := w.noops.ran.Load()
	deadline := time.Now().Add(awakeTimeout)
	t := time.NewTicker(wakerCheck)
	defer t.Stop()
	for w.noops.ran.Load() == start {
		if time.Now().After(deadline) {
			w.mc.Log.Warningf("gh-ost's apply loop ran no waker no-op within %s; the cut-over may wait for its one-second sleep", awakeTimeout)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
