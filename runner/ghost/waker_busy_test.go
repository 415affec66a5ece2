package ghost

import (
	"reflect"
	"testing"
	"time"

	"github.com/github/gh-ost/go/base"
	"github.com/github/gh-ost/go/logic"
	"github.com/stretchr/testify/require"
)

// gh-ost v1.1.10 queues a function per changelog heartbeat in the same queue: the waker must keep
// one no-op queued behind such entries (a loop whose last entry was a heartbeat would otherwise
// find the queue empty and sleep a second), and never more than one.
func TestWakerQueuesBehindOtherEntries(t *testing.T) {
	m := logic.NewMigrator(base.NewMigrationContext(), "test")
	var count noops
	queue, noop, err := wakerQueue(m, &count)
	require.NoError(t, err)
	require.True(t, queue.TrySend(reflect.New(noop.Type().Elem())), "an entry of gh-ost's own, as a heartbeat's")

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); wake(queue, noop, &count, func() bool { return true }, stop) }()
	defer func() { close(stop); <-done }()
	require.Eventually(t, func() bool { return queue.Len() == 2 }, time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	require.Equal(t, 2, queue.Len(), "one no-op at a time")
	require.EqualValues(t, 1, count.pending())
}
