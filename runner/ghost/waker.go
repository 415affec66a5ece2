package ghost

import (
	"errors"
	"reflect"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/github/gh-ost/go/logic"
)

// Why a waker: gh-ost v1.1.10's apply loop (Migrator.executeWriteFuncs) sleeps a whole second
// whenever it finds both its binlog-event queue and its row-copy queue empty. After the copy that
// is most of the time, so binlog events reach the ghost table in one-second batches, and at the
// cut-over the "all events up to lock" marker waits out that sleep while the original table is
// locked: measured here, the lock was held 1.0 s for a 300,000-row table with no writes at all.
//
// The waker keeps the loop from reaching that sleep once the copy is done: whenever none of its
// no-ops is queued it puts one in the event queue, and the no-op itself waits noopPause. (Not
// "whenever the queue is empty": v1.1.10 also queues a no-wait function per changelog heartbeat,
// go/logic/migrator.go onChangelogHeartbeatEvent, and a loop that ran one of those last found the
// queue empty before the waker's next check and slept its second.) The loop then
// wakes every few milliseconds instead of every second, a real event waits behind at most one
// no-op, and the CPU cost is one short wake-up per noopPause. The queue is unexported, so it is
// reached by reflection; wakerQueue fails (and the worker runs without a waker, as stock gh-ost)
// if the pinned gh-ost's internals ever differ.
const (
	noopPause  = 2 * time.Millisecond
	wakerCheck = time.Millisecond
)

// errNoQueue means gh-ost's Migrator does not have the queue this was written against.
var errNoQueue = errors.New("ghost: gh-ost Migrator has no applyEventsQueue of the expected shape")

// noops counts the waker's no-ops that are queued and not yet run (gh-ost's own "Backlog" figure
// counts them as events, and they are not) and those that ran (awake.go).
type noops struct {
	queued, ran atomic.Int64
	off         atomic.Bool // the waker stopped: a no-op no longer queues its successor
}

// pending is how many of the queue's entries are the waker's.
func (n *noops) pending() int64 { return max(n.queued.Load(), 0) }

// wakerQueue returns gh-ost's event queue and a no-op event for it; running the no-op
// decrements count.
func wakerQueue(m *logic.Migrator, count *noops) (queue reflect.Value, noop reflect.Value, err error) {
	if queue, err = eventQueue(m); err != nil {
		return reflect.Value{}, reflect.Value{}, err
	}
	event := reflect.New(queue.Type().Elem().Elem())
	wf := event.Elem().FieldByName("writeFunc")
	if !wf.IsValid() || wf.Kind() != reflect.Pointer || wf.Type().Elem().Kind() != reflect.Func {
		return reflect.Value{}, reflect.Value{}, errNoQueue
	}
	pause := func() error {
		// The next no-op is queued before this one ends (counted before the consumed one is
		// taken off, so the waker never sees none and adds a second): the loop cannot find the
		// queue empty in the moment between a no-op and the waker's next check. It pauses only
		// when nothing but no-ops waits, so an idle loop wakes once per noopPause and real
		// events are never held up by a pause.
		if !count.off.Load() {
			count.queued.Add(1)
			if !queue.TrySend(event) {
				count.queued.Add(-1)
			}
		}
		count.queued.Add(-1)
		count.ran.Add(1)
		if int64(queue.Len()) <= count.pending() {
			time.Sleep(noopPause)
		}
		return nil
	}
	fn := reflect.New(wf.Type().Elem())
	if !reflect.TypeOf(pause).ConvertibleTo(wf.Type().Elem()) {
		return reflect.Value{}, reflect.Value{}, errNoQueue
	}
	fn.Elem().Set(reflect.ValueOf(pause).Convert(wf.Type().Elem()))
	reflect.NewAt(wf.Type(), unsafe.Pointer(wf.UnsafeAddr())).Elem().Set(fn)
	return queue, event, nil
}

// eventQueue is gh-ost's applyEventsQueue, usable (Len, TrySend) although unexported.
func eventQueue(m *logic.Migrator) (reflect.Value, error) {
	f := reflect.ValueOf(m).Elem().FieldByName("applyEventsQueue")
	// chan *applyEventStruct, where applyEventStruct{writeFunc *tableWriteFunc; dmlEvent ...}
	if !f.IsValid() || f.Kind() != reflect.Chan || f.Type().Elem().Kind() != reflect.Pointer ||
		f.Type().Elem().Elem().Kind() != reflect.Struct {
		return reflect.Value{}, errNoQueue
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem(), nil
}

// wake keeps gh-ost's apply loop awake from the moment active reports true until stop closes.
func wake(queue, noop reflect.Value, count *noops, active func() bool, stop <-chan struct{}) {
	t := time.NewTicker(wakerCheck)
	defer t.Stop()
	defer count.off.Store(true)
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if active() && count.queued.Load() == 0 {
				count.queued.Add(1)
				if !queue.TrySend(noop) {
					count.queued.Add(-1)
				}
			}
		}
	}
}
