package cutover_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/runner"
)

var secret = []byte("0123456789abcdef-shared-secret")

// engine is the runner's side: ready and backlog as a test sets them.
type engine struct {
	ready   atomic.Bool
	backlog atomic.Int64
}

func readyEngine() *engine {
	e := &engine{}
	e.ready.Store(true)
	return e
}

func (e *engine) state() (bool, int64) { return e.ready.Load(), e.backlog.Load() }

// sink keeps the gate's events.
type sink struct {
	mu     sync.Mutex
	events []cutover.Event
}

func (s *sink) Record(_ context.Context, e cutover.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	return nil
}

func (s *sink) kinds() map[cutover.EventKind]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[cutover.EventKind]int{}
	for _, e := range s.events {
		out[e.Kind]++
	}
	return out
}

func (s *sink) find(kind cutover.EventKind) (cutover.Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		if e.Kind == kind {
			return e, true
		}
	}
	return cutover.Event{}, false
}

// quiet is a config whose only lines are the engine's and the approval (auto): tests switch on
// what they test.
func quiet() cutover.Config {
	return cutover.Config{
		Interval: 50 * time.Millisecond,
		Blockers: cutover.Blockers{IgnoreMDLWaiters: true},
		Approval: cutover.Approval{Mode: cutover.ApprovalAuto},
	}
}

// awaiting runs Await in the background.
type awaiting struct {
	g        *cutover.Gate
	finished chan struct{}
	err      error // Await's result, once finished is closed
	cancel   context.CancelFunc
}

func startAwait(t *testing.T, g *cutover.Gate, target runner.Target) *awaiting {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &awaiting{g: g, finished: make(chan struct{}), cancel: cancel}
	go func() {
		a.err = g.Await(ctx, target)
		close(a.finished)
	}()
	t.Cleanup(func() { cancel(); <-a.finished })
	return a
}

// result waits for Await to return.
func (a *awaiting) result(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-a.finished:
		return a.err
	case <-time.After(within):
		t.Fatalf("Await did not return within %s; checklist: %+v", within, a.g.Checklist())
		return nil
	}
}

// stillWaiting asserts Await has not returned.
func (a *awaiting) stillWaiting(t *testing.T) {
	t.Helper()
	select {
	case <-a.finished:
		t.Fatalf("Await returned early: %v", a.err)
	default:
	}
}

// waitLine polls the checklist until line name satisfies ok, and returns it.
func waitLine(t *testing.T, g *cutover.Gate, name string, ok func(cutover.Line) bool, within time.Duration) cutover.Line {
	t.Helper()
	deadline := time.Now().Add(within)
	var last cutover.Line
	for time.Now().Before(deadline) {
		if l, found := g.Checklist().Line(name); found {
			last = l
			if ok(l) {
				return l
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("line %s never reached the expected state; last: %+v\nchecklist: %+v", name, last, g.Checklist())
	return last
}

func failing(l cutover.Line) bool { return !l.OK }
func passing(l cutover.Line) bool { return l.OK }

// signed sends a request signed with key to the controller API at base.
func signed(t *testing.T, base, method, path string, body any, key []byte) (*http.Response, []byte, *http.Request) {
	t.Helper()
	var b []byte
	if body != nil {
		var err error
		b, err = json.Marshal(body)
		require.NoError(t, err)
	}
	req, err := http.NewRequest(method, base+path, bytes.NewReader(b))
	require.NoError(t, err)
	wire.Sign(req, b, key, time.Now())
	return send(t, req, b)
}

func send(t *testing.T, req *http.Request, body []byte) (*http.Response, []byte, *http.Request) {
	t.Helper()
	req.Body = nopCloser{bytes.NewReader(body)}
	req.Close = true // no idle connection (and goroutine) outlives the test
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := wire.ReadBody(resp.Body)
	require.NoError(t, err)
	return resp, out, req
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
