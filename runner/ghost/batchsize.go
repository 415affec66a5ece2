package ghost

import (
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ghostgate/ghostgate/runner/batch"
)

// batcher sizes gh-ost's binlog apply batches by the backlog (runner/batch) and measures the
// apply loop's capacity while it has one. It runs in the worker, where the queue is: the
// controller's view of the backlog comes once a second through gh-ost's status socket, too late
// for a queue that fills in a tenth of that.
type batcher struct {
	cfg batch.Config

	mu       sync.Mutex
	size     int64
	reason   batch.Reason
	capacity batch.Capacity
}

func newBatcher(s Spec) *batcher {
	cfg := batch.Config{Fixed: !s.AdaptiveDMLBatch, Min: s.DMLBatchSize}.WithDefaults()
	b := &batcher{cfg: cfg, size: s.DMLBatchSize}
	if cfg.Fixed {
		b.reason = batch.Reason{Kind: batch.KindFixed, Detail: "configured"}
	} else {
		b.reason = batch.Reason{Kind: batch.KindHold, Detail: "starting size; grows with the backlog up to " + strconv.FormatInt(cfg.Max, 10)}
	}
	return b
}

// fix records that the size cannot be steered (why).
func (b *batcher) fix(why string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reason = batch.Reason{Kind: batch.KindFixed, Detail: why}
}

// state is the size in force, why, and the capacity measured so far (events/s, seconds measured).
func (b *batcher) state() (int64, batch.Reason, float64, float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.size, b.reason, b.capacity.Rate(), b.capacity.Seconds
}

// tuneBatch looks at gh-ost's event queue every cfg.Interval until stop closes: it measures the
// apply capacity and, unless fixed, sets the batch size.
func (w *worker) tuneBatch(queue reflect.Value, stop <-chan struct{}) {
	b := w.batch
	t := time.NewTicker(b.cfg.Interval)
	defer t.Stop()
	backlog := func() int64 { return max(int64(queue.Len())-w.noops.pending(), 0) }
	lastAt, lastApplied, lastBacklog, lastCopied := time.Now(), atomic.LoadInt64(&w.mc.TotalDMLEventsApplied), backlog(), w.mc.GetTotalRowsCopied()
	lastThrottled, _, _ := w.mc.IsThrottled()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			applied, copied := atomic.LoadInt64(&w.mc.TotalDMLEventsApplied), w.mc.GetTotalRowsCopied()
			n := backlog()
			throttled, _, _ := w.mc.IsThrottled()
			b.mu.Lock()
			b.capacity.Observe(batch.Interval{Length: now.Sub(lastAt), Applied: applied - lastApplied,
				StartBacklog: lastBacklog, EndBacklog: n, Size: b.size, Copied: copied != lastCopied, Throttled: throttled || lastThrottled})
			next, why := batch.Next(b.cfg, b.size, n)
			if next != b.size {
				w.mc.SetDMLBatchSize(next)
			}
			b.size, b.reason = next, why
			b.mu.Unlock()
			lastAt, lastApplied, lastBacklog, lastCopied, lastThrottled = now, applied, n, copied, throttled
		}
	}
}
