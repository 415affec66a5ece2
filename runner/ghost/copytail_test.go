package ghost

import (
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/github/gh-ost/go/base"
	"github.com/github/gh-ost/go/logic"
	"github.com/stretchr/testify/require"
)

// runEntry takes one entry off gh-ost's event queue and runs it as the apply loop would (the
// writeFunc of an applyEventStruct), reporting false when the queue was empty; the entry must
// not fail.
func runEntry(t *testing.T, queue reflect.Value) bool {
	t.Helper()
	ran, err := callEntry(t, queue)
	require.NoError(t, err, "the entry failed")
	return ran
}

// callEntry is runEntry returning the entry's error.
func callEntry(t *testing.T, queue reflect.Value) (bool, error) {
	t.Helper()
	ev, ok := queue.TryRecv()
	if !ok {
		return false, nil
	}
	wf := ev.Elem().FieldByName("writeFunc")
	wf = reflect.NewAt(wf.Type(), unsafe.Pointer(wf.UnsafeAddr())).Elem()
	require.False(t, wf.IsNil())
	out := wf.Elem().Call(nil)
	require.Len(t, out, 1)
	err, _ := out[0].Interface().(error)
	return true, err
}

// newQueues is a gh-ost Migrator of its own with the waker's reach into its event queue.
func newQueues(t *testing.T) (*base.MigrationContext, *logic.Migrator, *noops, reflect.Value, reflect.Value) {
	t.Helper()
	mc := base.NewMigrationContext()
	m := logic.NewMigrator(mc, "test")
	count := &noops{}
	queue, noop, err := wakerQueue(m, count)
	require.NoError(t, err)
	return mc, m, count, queue, noop
}

// The copy tail's entry against gh-ost's real queue: after a function that copied a chunk it
// returns at once and starts nothing; after the copy's last function it waits for the copy's end
// and starts the waker's chain of no-ops, once; without an end it gives up after tailWait; it does
// nothing once the copy is done or before it is armed.
func TestCopyTail(t *testing.T) {
	mc, _, count, queue, noop := newQueues(t)
	var done atomic.Bool
	tail := &copyTail{}

	tail.seen() // not armed: nothing
	require.Equal(t, 0, queue.Len())
	require.NoError(t, tail.arm(queue, noop, count, mc, &done))

	// A chunk was copied after the tail query: the copy goes on.
	tail.seen()
	tail.seen() // one entry is enough
	require.Equal(t, 1, queue.Len())
	require.EqualValues(t, 1, count.pending(), "the entry is no backlog")
	atomic.AddInt64(&mc.Iteration, 1)
	start := time.Now()
	require.True(t, runEntry(t, queue))
	require.Less(t, time.Since(start), tailWait/2, "waited although the copy went on")
	require.Equal(t, 0, queue.Len(), "started a chain during the copy")
	require.Zero(t, count.pending())

	// The copy's last function: nothing copied after the query; the copy ends 20ms later.
	tail.seen()
	go func() { time.Sleep(20 * time.Millisecond); done.Store(true) }()
	require.True(t, runEntry(t, queue))
	require.Equal(t, 1, queue.Len(), "no chain of no-ops after the copy's end")
	require.EqualValues(t, 1, count.queued.Load())
	require.Zero(t, count.tail.Load())
	ran := count.ran.Load()
	require.True(t, runEntry(t, queue)) // the waker's no-op queues its successor: the chain goes on
	require.Equal(t, 1, queue.Len())
	require.Equal(t, ran+1, count.ran.Load())

	tail.seen() // the copy is done: nothing more
	require.Equal(t, 1, queue.Len())
	require.True(t, runEntry(t, queue))
	count.off.Store(true) // the waker stopped: the chain ends with the next no-op
	require.True(t, runEntry(t, queue))
	require.False(t, runEntry(t, queue))

	// A copy that does not end: the entry gives up after tailWait and starts nothing.
	count.off.Store(false)
	done.Store(false)
	tail.seen()
	start = time.Now()
	require.True(t, runEntry(t, queue))
	require.GreaterOrEqual(t, time.Since(start), tailWait)
	require.Less(t, time.Since(start), tailWait+time.Second)
	require.Equal(t, 0, queue.Len())
	require.Zero(t, count.pending())
}

// The copy start's entry against gh-ost's real queues: it runs the first chunk's function as soon
// as the iterator offers it (with the nice-ratio sleep) and returns its error to the loop; with
// no chunk it returns once the copy is done.
func TestCopyStart(t *testing.T) {
	mc, m, count, queue, _ := newQueues(t)
	var done atomic.Bool
	s, err := newCopyStart(m, queue, count, mc, &done)
	require.NoError(t, err)
	offer := func(f func() error) { // what gh-ost's iterateChunks does
		fn := reflect.New(s.copies.Type().Elem()).Elem()
		fn.Set(reflect.ValueOf(f).Convert(s.copies.Type().Elem()))
		s.copies.Send(fn)
	}

	s.queueFirst()
	require.EqualValues(t, 1, count.pending(), "the entry is no backlog")
	ran := make(chan struct{})
	go func() { time.Sleep(20 * time.Millisecond); offer(func() error { close(ran); return nil }) }()
	require.True(t, runEntry(t, queue))
	select {
	case <-ran:
	default:
		t.Fatal("the first chunk did not run in the entry")
	}
	require.Zero(t, count.pending())

	s.queueFirst()
	go offer(func() error { return errors.New("chunk failed") })
	took, err := callEntry(t, queue)
	require.True(t, took)
	require.EqualError(t, err, "chunk failed", "the chunk's error goes to the loop")

	s.queueFirst()
	go func() { time.Sleep(20 * time.Millisecond); done.Store(true) }() // an empty table: no chunk
	start := time.Now()
	require.True(t, runEntry(t, queue))
	require.Less(t, time.Since(start), startWait/2)
}
