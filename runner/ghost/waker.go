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
//
// Before the copy's end the waker only looks every wakerIdle (the copy tail, copytail.go, starts
// the chain at that moment itself); after it, the chain sustains itself and the waker's check
// every wakerBackup only restarts a chain that broke (an entry the full queue refused). A 1 ms
// check from the start woke the worker a thousand times a second for the whole copy: 6% of a core
// measured on a paused copy, most of the worker's CPU.
const (
	noopPause   = 2 * time.Millisecond
	wakerCheck  = time.Millisecond // awake.go's poll at the gate
	wakerIdle   = 20 * time.Millisecond
	wakerBackup = 5 * time.Millisecond
)

// errNoQueue means gh-ost's Migrator does not have the queue this was written against.
var errNoQueue = errors.New("ghost: gh-ost Migrator has no applyEventsQueue of the expected shape")

// noops counts the waker's no-ops that are queued and not yet run (gh-ost's own "Backlog" figure
// counts them as events, and they are not) and those that ran (awake.go); tail counts the copy
// tail's (copytail.go).
type noops struct {
	queued, tail, ran atomic.Int64
	off               atomic.Bool // the waker stopped: a no-op no longer queues its successor
}

// pending is how many of the queue's entries are the waker's or the copy tail's.
func (n *noops) pending() int64 { return max(n.queued.Load(), 0) + max(n.tail.Load(), 0) }

// startChain queues a no-op when none of the waker's is queued, so that there is only ever one
// chain of them (the waker and the copy tail both start it).
func (n *noops) startChain(queue, noop reflect.Value) {
	if n.queued.CompareAndSwap(0, 1) && !queue.TrySend(noop) {
		n.queued.Add(-1)
	}
}

// wakerQueue returns gh-ost's event queue and a no-op event for it; running the no-op
// decrements count.
func wakerQueue(m *logic.Migrator, count *noops) (queue reflect.Value, noop reflect.Value, err error) {
	if queue, err = eventQueue(m); err != nil {
		return reflect.Value{}, reflect.Value{}, err
	}
	noop, err = queueEvent(queue, func() error {
		// The next no-op is queued before this one ends (counted before the consumed one is
		// taken off, so the waker never sees none and adds a second): the loop cannot find the
		// queue empty in the moment between a no-op and the waker's next check. It pauses only
		// when nothing but no-ops waits, so an idle loop wakes once per noopPause and real
		// events are never held up by a pause.
		if !count.off.Load() {
			count.queued.Add(1)
			if !queue.TrySend(noop) {
				count.queued.Add(-1)
			}
		}
		count.queued.Add(-1)
		count.ran.Add(1)
		if int64(queue.Len()) <= count.pending() {
			time.Sleep(noopPause)
		}
		return nil
	})
	return queue, noop, err
}

// queueEvent returns an entry for gh-ost's event queue whose only content is f, run by the apply
// loop as it runs gh-ost's own non-DML entries (the writeFunc of an applyEventStruct).
func queueEvent(queue reflect.Value, f func() error) (reflect.Value, error) {
	event := reflect.New(queue.Type().Elem().Elem())
	wf := event.Elem().FieldByName("writeFunc")
	if !wf.IsValid() || wf.Kind() != reflect.Pointer || wf.Type().Elem().Kind() != reflect.Func {
		return reflect.Value{}, errNoQueue
	}
	if !reflect.TypeOf(f).ConvertibleTo(wf.Type().Elem()) {
		return reflect.Value{}, errNoQueue
	}
	fn := reflect.New(wf.Type().Elem())
	fn.Elem().Set(reflect.ValueOf(f).Convert(wf.Type().Elem()))
	reflect.NewAt(wf.Type(), unsafe.Pointer(wf.UnsafeAddr())).Elem().Set(fn)
	return event, nil
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
	t := time.NewTicker(wakerIdle)
	defer t.Stop()
	defer count.off.Store(true)
	on := false
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if !active() {
				continue
			}
			if !on {
				on = true
				t.Reset(wakerBackup)
			}
			if count.queued.Load() == 0 {
				count.startChain(queue, noop)
			}
		}
	}
}
