package ghost

import (
	"reflect"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/github/gh-ost/go/base"
	"github.com/github/gh-ost/go/logic"
)

// Why the copy's tail: the waker (waker.go) keeps gh-ost's apply loop awake once the copy is done,
// but it learns that from gh-ost's OnRowCopyComplete hook, which runs on gh-ost's main goroutine
// after the apply loop has already run the copy's last function. The loop usually gets there
// first: it finds both its queues empty and sleeps its second (executeWriteFuncs), and the gate
// then waits that second out (awake.go). Measured on an idle 4M-row table, "Row copy complete"
// at 08.935 and the cut-over at 09.944: a second of every migration's wall time, 5–10% of a
// copy of a few million rows, with nothing to do.
//
// So the worker puts one entry into the event queue before the loop can get there. gh-ost asks
// for its temptable range end only when less than a chunk is left (compat.go item 4), from the
// apply loop, inside the copy function it is running; the entry queued then is what the loop
// finds after that function, instead of empty queues:
//   - that function copied a chunk (gh-ost's Iteration has moved on since the query): the copy
//     goes on, its next function is waiting, and the entry returns at once;
//   - it copied nothing: that was the copy's last function, whose end gh-ost's main goroutine
//     is receiving; the entry waits (at most tailWait) for the OnRowCopyComplete hook and starts
//     the waker's chain of no-ops, so the loop never reaches its sleep.
//
// Whatever goes wrong costs at most tailWait per entry and leaves the old behaviour (the waker
// starts with the hook, the gate waits out the sleep).
const tailWait = 200 * time.Millisecond

// copyTail is the worker's CompatHooks.CopyTail; it does nothing until armed.
type copyTail struct {
	armed     atomic.Pointer[tailQueue]
	iteration atomic.Int64 // gh-ost's Iteration when the last tail query was seen
}

type tailQueue struct {
	queue, event, noop reflect.Value
	count              *noops
	mc                 *base.MigrationContext
	copyDone           *atomic.Bool
}

// arm makes the hook queue its entry into gh-ost's event queue from now on: noop is the waker's
// entry (wakerQueue), count its counters, copyDone set by gh-ost's OnRowCopyComplete hook.
func (t *copyTail) arm(queue, noop reflect.Value, count *noops, mc *base.MigrationContext, copyDone *atomic.Bool) error {
	q := &tailQueue{queue: queue, noop: noop, count: count, mc: mc, copyDone: copyDone}
	event, err := queueEvent(queue, t.run)
	if err != nil {
		return err
	}
	q.event = event
	t.armed.Store(q)
	return nil
}

// seen runs on the apply loop, before gh-ost's temptable range-end query is written.
func (t *copyTail) seen() {
	q := t.armed.Load()
	if q == nil || q.copyDone.Load() || q.count.off.Load() {
		return
	}
	t.iteration.Store(q.mc.GetIteration())
	if q.count.tail.CompareAndSwap(0, 1) && !q.queue.TrySend(q.event) { // one entry is enough
		q.count.tail.Add(-1)
	}
}

// run is the entry, run by the apply loop after the function that queued it.
func (t *copyTail) run() error {
	q := t.armed.Load()
	defer q.count.tail.Add(-1)
	q.count.ran.Add(1)
	if q.mc.GetIteration() > t.iteration.Load() {
		return nil // a chunk was copied after the query: the copy goes on
	}
	start := time.Now()
	for deadline := start.Add(tailWait); !q.copyDone.Load() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Microsecond)
	}
	if !q.copyDone.Load() {
		q.mc.Log.Warningf("copy tail: the copy did not end within %s of its last range query; the apply loop may sleep its second", tailWait)
		return nil
	}
	if !q.count.off.Load() {
		q.count.startChain(q.queue, q.noop)
		q.mc.Log.Infof("copy tail: the apply loop kept awake past the copy's end (waited %s for it)", time.Since(start).Round(time.Microsecond))
	}
	return nil
}

// The copy's start has the same second to lose: gh-ost starts its apply loop and its chunk
// iterator as two goroutines one after the other (Migrator.Migrate: go executeWriteFuncs, go
// iterateChunks), and the loop usually looks at its queues before the iterator has handed over
// the first chunk, finds them empty and sleeps its second. Measured on a 1M-row table: the
// copying phase began at 58.48, the first chunk at 59.45.
//
// So OnBeforeRowCopy, which gh-ost calls just before starting the two, queues one entry that the
// loop finds first. The entry runs on the loop's goroutine and does what the loop would do next:
// it takes the first chunk's function from gh-ost's row-copy queue as soon as the iterator
// offers it and runs it (with gh-ost's nice-ratio sleep after it, as the loop does); an error
// is returned to the loop, which fails the run as it would have. By the time that chunk is done
// the iterator waits with the next one, and the loop no longer finds its queues empty. When no
// chunk comes (an empty table, a failed start) the entry gives up once the copy is done or after
// startWait, which is at most the second gh-ost would have slept.
const startWait = time.Second

// copyStart is the OnBeforeRowCopy side; built by newCopyStart, nil when gh-ost's queues are out
// of reach (the loop then sleeps its second, as stock gh-ost does).
type copyStart struct {
	queue, copies, event reflect.Value
	count                *noops
	mc                   *base.MigrationContext
	copyDone             *atomic.Bool
}

// newCopyStart reaches gh-ost's row-copy queue (an unbuffered chan of func() error).
func newCopyStart(m *logic.Migrator, queue reflect.Value, count *noops, mc *base.MigrationContext, copyDone *atomic.Bool) (*copyStart, error) {
	f := reflect.ValueOf(m).Elem().FieldByName("copyRowsQueue")
	if !f.IsValid() || f.Kind() != reflect.Chan || f.Type().Elem().Kind() != reflect.Func ||
		f.Type().Elem().NumIn() != 0 || f.Type().Elem().NumOut() != 1 || !f.Type().Elem().Out(0).Implements(errorType) {
		return nil, errNoQueue
	}
	s := &copyStart{queue: queue, copies: reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem(),
		count: count, mc: mc, copyDone: copyDone}
	event, err := queueEvent(queue, s.run)
	if err != nil {
		return nil, err
	}
	s.event = event
	return s, nil
}

var errorType = reflect.TypeOf((*error)(nil)).Elem()

// queueFirst puts the entry into the event queue; gh-ost's OnBeforeRowCopy calls it.
func (s *copyStart) queueFirst() {
	s.count.tail.Add(1)
	if !s.queue.TrySend(s.event) {
		s.count.tail.Add(-1)
	}
}

// run is the entry, on the apply loop.
func (s *copyStart) run() error {
	defer s.count.tail.Add(-1)
	s.count.ran.Add(1)
	began := time.Now()
	deadline := began.Add(startWait)
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectRecv, Chan: s.copies},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(poll.C)},
	}
	for {
		chosen, fn, ok := reflect.Select(cases)
		if chosen == 0 {
			if !ok {
				return nil
			}
			start := time.Now()
			s.mc.Log.Infof("copy start: the apply loop took the first chunk %s after it began", time.Since(began).Round(time.Microsecond))
			out := fn.Call(nil)
			if err, _ := out[0].Interface().(error); err != nil {
				return err
			}
			if nice := s.mc.GetNiceRatio(); nice > 0 {
				time.Sleep(time.Duration(nice * float64(time.Since(start))))
			}
			return nil
		}
		if s.copyDone.Load() || time.Now().After(deadline) || s.mc.GetContext().Err() != nil {
			return nil
		}
	}
}
