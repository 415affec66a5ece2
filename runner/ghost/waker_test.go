package ghost

import (
	"testing"
	"time"

	"github.com/github/gh-ost/go/base"
	"github.com/github/gh-ost/go/logic"
	"github.com/stretchr/testify/require"
)

// The waker reaches gh-ost v1.1.6's apply queue; if an upgrade changed it, this fails loudly
// rather than the worker silently falling back to one-second batches.
func TestWakerFindsQueue(t *testing.T) {
	m := logic.NewMigrator(base.NewMigrationContext(), "test")
	var count noops
	queue, noop, err := wakerQueue(m, &count)
	require.NoError(t, err)
	require.Equal(t, 0, queue.Len())

	stop := make(chan struct{})
	active := false
	done := make(chan struct{})
	go func() { defer close(done); wake(queue, noop, &count, func() bool { return active }, stop) }()
	time.Sleep(20 * time.Millisecond)
	require.Equal(t, 0, queue.Len(), "inactive: nothing queued")
	close(stop)
	<-done

	// Active: one no-op is queued, and running it takes noopPause.
	stop = make(chan struct{})
	active = true
	done = make(chan struct{})
	go func() { defer close(done); wake(queue, noop, &count, func() bool { return true }, stop) }()
	require.Eventually(t, func() bool { return queue.Len() == 1 }, time.Second, time.Millisecond)
	close(stop)
	<-done
	require.EqualValues(t, 1, count.pending(), "the queued no-op is not backlog")
	ev, ok := queue.TryRecv()
	require.True(t, ok)
	fn := ev.Elem().FieldByName("writeFunc")
	require.False(t, fn.IsNil())
}
