package cli

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTUINeedsTerminal: without a terminal, `migrate tui` and `migrate run --tui` refuse with a
// usage error that points to the plain-text alternative.
func TestTUINeedsTerminal(t *testing.T) {
	cases := []struct {
		name string
		args []string
		io   IO
		want string
	}{
		{"tui, stdout piped", []string{"tui"}, IO{InTTY: true}, "migrate status --watch"},
		{"tui, stdin piped", []string{"tui", "01JB3K6ZP7M2YH2QJ4X6N0V8RT"}, IO{OutTTY: true}, "migrate status --watch"},
		{"run --tui", []string{"run", "--tui", "--yes", "ALTER TABLE t ADD c INT"}, IO{InTTY: true}, "--tui needs a terminal"},
		{"run --tui -o json", []string{"run", "--tui", "--yes", "-o", "json", "ALTER TABLE t ADD c INT"}, IO{InTTY: true, OutTTY: true}, "--tui needs a terminal and text output"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut strings.Builder
			streams := c.io
			streams.In, streams.Out, streams.ErrOut = strings.NewReader(""), &out, &errOut
			code := Execute(context.Background(), c.args, streams)
			require.Equal(t, ExitUsage, code, errOut.String())
			if strings.Contains(strings.Join(c.args, " "), "-o json") {
				require.Contains(t, out.String(), c.want, "with -o json the error is JSON on stdout")
				require.Contains(t, out.String(), `"code":"usage"`)
				return
			}
			require.Contains(t, errOut.String(), c.want)
			require.Empty(t, out.String(), "nothing is drawn on a pipe")
		})
	}
}

// TestRunTUI runs a gh-ost migration with `migrate run --tui`: an in-process controller and
// API, the TUI drawing it until it completes, q to quit, and the outcome as the exit code.
func TestRunTUI(t *testing.T) {
	d := newOrders(t)
	conn := connArgs(t, d)
	keys, typing := io.Pipe()
	t.Cleanup(func() { _ = typing.Close() })
	var out, errOut syncBuffer
	args := runArgs(t, conn, "--tui", "--replica", d.Env.Replica.Addr(), "ALTER TABLE orders MODIFY qty BIGINT NOT NULL")
	code := make(chan int, 1)
	go func() {
		code <- Execute(context.Background(), args, IO{In: keys, Out: &out, ErrOut: &errOut, InTTY: true, OutTTY: true})
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
		}
	})
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "complete  id") },
		90*time.Second, 100*time.Millisecond, "the detail view should show the migration complete")
	_, err := typing.Write([]byte("q"))
	require.NoError(t, err)
	select {
	case c := <-code:
		require.Equal(t, ExitOK, c, errOut.String())
	case <-time.After(60 * time.Second):
		t.Fatal("migrate run --tui did not end after q")
	}
	// A real summary, not just "complete": the rows, the cut-over and its lock, the undo point.
	require.Regexp(t, `orders \(ghost\): complete in [0-9.]+m?s, 200 rows copied, throttled [0-9.]+m?s, cut-over [0-9.]+m?s \(table locked [0-9.]+m?s\), original table kept as _orders_[0-9]+_del`, out.String())
	require.Equal(t, "bigint(20)", d.ColumnType(t, "orders", "qty"))
}
