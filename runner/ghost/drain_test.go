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
// and counts the waker's no-ops as no backlog.
func TestDrainer(t *testing.T) {
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
	drainer(reflect.ValueOf(q), &noops{}, logger)(context.Background(), 5*time.Second)
	assert.LessOrEqual(t, len(q), drainBelow, "returned before the queue was down to the bound")
	assert.Less(t, time.Since(start), 2*time.Second)

	start = time.Now()
	drainer(reflect.ValueOf(fill(500)), &noops{}, logger)(context.Background(), 150*time.Millisecond)
	waited := time.Since(start)
	assert.GreaterOrEqual(t, waited, 150*time.Millisecond)
	assert.Less(t, waited, time.Second, "waited past what it was given")

	start = time.Now()
	drainer(reflect.ValueOf(fill(500)), &noops{}, logger)(context.Background(), time.Minute)
	assert.Less(t, time.Since(start), drainMax+500*time.Millisecond, "waited past drainMax")

	var waker noops
	waker.queued.Store(30) // 30 of the 40 queued entries are the waker's no-ops
	start = time.Now()
	drainer(reflect.ValueOf(fill(40)), &waker, logger)(context.Background(), time.Minute)
	assert.Less(t, time.Since(start), 100*time.Millisecond, "the waker's no-ops counted as backlog")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start = time.Now()
	drainer(reflect.ValueOf(fill(500)), &noops{}, logger)(ctx, time.Minute)
	assert.Less(t, time.Since(start), 100*time.Millisecond, "an ended run waited")
}
