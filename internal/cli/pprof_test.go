package cli

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var pprofLine = regexp.MustCompile(`pprof: (http://\S+)`)

// serve --pprof-addr serves Go's profiles on a listener of its own, says where, and stops with
// the controller; a remote address needs --allow-remote like the API's.
func TestServePprof(t *testing.T) {
	d := newOrders(t)
	t.Setenv(EnvToken, "cli-test-token-0123456789")
	work, err := os.MkdirTemp("", "ggp")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(work) })

	r := run(t, "", append([]string{"serve", "--listen", "127.0.0.1:0", "--pprof-addr", "0.0.0.0:0", "--replica", d.Env.Replica.Addr()}, connArgs(t, d)...)...)
	require.Equal(t, ExitUsage, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, "--pprof-addr")

	var out, errOut syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--pprof-addr", "127.0.0.1:0", "--work-dir", work, "--replica", d.Env.Replica.Addr()}, connArgs(t, d)...)
	go func() { code <- Execute(ctx, args, IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}) }()
	var url string
	for deadline := time.Now().Add(30 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := pprofLine.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		}
	}
	require.NotEmpty(t, url, "serve did not say where pprof is: %s%s", out.String(), errOut.String())
	resp, err := http.Get(url + "goroutine?debug=1")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "internal/cli.runServe", "the controller's own goroutines")

	cancel()
	select {
	case c := <-code:
		require.Equal(t, ExitOK, c, out.String()+errOut.String())
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop")
	}
	_, err = http.Get(url)
	assert.Error(t, err, "pprof stops with the controller")
}
