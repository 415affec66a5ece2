package ghost

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/github/gh-ost/go/base"
	"github.com/stretchr/testify/assert"
)

// The drain before the cut-over ends as soon as the queue is down to its bound, waits no longer
// than it was given when the queue does not drain (an apply loop that fell behind, or stopped),
// and counts the waker's no-ops as no backlog. It also waits for the stream: until a heartbeat
// written after it began has been read, within the same bounds.
func TestDrainer(t *testing.T) {
	current := func() time.Time { return time.Now() } // every heartbeat read at once
	fill := func(n int) chan *struct{} {
		q := make(chan *struct{}, 1000)
		for range n {
			q <- &struct{}{}
		}
		return q
	}
	logger := base.NewDefaultLogger()

	q := fill(200)
	go func() { // an apply loop taking an event a millisecond
		for range 190 {
			<-q
			time.Sleep(time.Millisecond)
		}
	}()
	start := time.Now()
	drainer(reflect.ValueOf(q), &noops{}, logger, current)(context.Background(), 5*time.Second)
	assert.LessOrEqual(t, len(q), drainBelow, "returned before the queue was down to the bound")
	assert.Less(t, time.Since(start), 2*time.Second)

	start = time.Now()
	drainer(reflect.ValueOf(fill(500)), &noops{}, logger, current)(context.Background(), 150*time.Millisecond)
	waited := time.Since(start)
	assert.GreaterOrEqual(t, waited, 150*time.Millisecond)
	assert.Less(t, waited, time.Second, "waited past what it was given")

	start = time.Now()
	drainer(reflect.ValueOf(fill(500)), &noops{}, logger, current)(context.Background(), time.Minute)
	assert.Less(t, time.Since(start), drainMax+500*time.Millisecond, "waited past drainMax")

	var waker noops
	waker.queued.Store(30) // 30 of the 40 queued entries are the waker's no-ops
	start = time.Now()
	drainer(reflect.ValueOf(fill(40)), &waker, logger, current)(context.Background(), time.Minute)
	assert.Less(t, time.Since(start), 100*time.Millisecond, "the waker's no-ops counted as backlog")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start = time.Now()
	drainer(reflect.ValueOf(fill(500)), &noops{}, logger, current)(ctx, time.Minute)
	assert.Less(t, time.Since(start), 100*time.Millisecond, "an ended run waited")

	// The stream: a replica 300ms behind (the heartbeat read is one written 300ms ago) delays
	// the go-ahead until a heartbeat from after the start has come through, though the queue is
	// empty; a stream that never catches up is waited for no longer than the limit.
	behind := func() time.Time { return time.Now().Add(-300 * time.Millisecond) }
	start = time.Now()
	drainer(reflect.ValueOf(fill(0)), &noops{}, logger, behind)(context.Background(), time.Minute)
	waited = time.Since(start)
	assert.GreaterOrEqual(t, waited, 300*time.Millisecond, "went before the stream caught up")
	assert.Less(t, waited, drainMax/2+300*time.Millisecond)
	stuck := func() time.Time { return time.Time{} }
	start = time.Now()
	drainer(reflect.ValueOf(fill(0)), &noops{}, logger, stuck)(context.Background(), 200*time.Millisecond)
	waited = time.Since(start)
	assert.GreaterOrEqual(t, waited, 200*time.Millisecond)
	assert.Less(t, waited, time.Second, "waited past what it was given for a stuck stream")
}
