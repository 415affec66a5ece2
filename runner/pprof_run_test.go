package runner_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/store"
)

// With GhostTuning.PprofAddr the worker serves its profiles while it runs, and the event log
// says where.
func TestRunWorkerPprof(t *testing.T) {
	f := newFixture(t, sandboxtest.Env(t), 100_000, func(c *runner.Config) {
		c.Ghost.PprofAddr = "127.0.0.1:0"
		c.Ghost.NiceRatio = 5 // a copy long enough to take a profile during it
	})
	h, err := f.runner.Start(context.Background(), f.plan(t, "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0"), runner.RunOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { h.Cancel(); _, _ = h.Wait() })

	var url string
	deadline := time.Now().Add(30 * time.Second)
	for url == "" && time.Now().Before(deadline) {
		evs, err := f.store.Events(context.Background(), h.ID(), 0, 1000)
		require.NoError(t, err)
		for _, e := range evs {
			if e.Kind == store.EventNote && strings.HasPrefix(e.Message, "gh-ost worker pprof: ") {
				url = strings.TrimPrefix(e.Message, "gh-ost worker pprof: ")
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NotEmpty(t, url, "no pprof address in the event log")
	resp, err := http.Get(url + "goroutine?debug=1")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	select {
	case <-h.Done():
		t.Fatal("the copy ended before the profile was read; it may not be the worker's")
	default:
	}
	assert.Contains(t, string(body), "github.com/github/gh-ost/go/logic", "the worker's goroutines: gh-ost runs there")

	_, err = h.Wait()
	require.NoError(t, err)
	_, err = http.Get(url)
	assert.Error(t, err, "the profile server ends with the worker")
}
