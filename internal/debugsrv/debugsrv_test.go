package debugsrv

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServesProfilesAndStops(t *testing.T) {
	s, err := Listen("127.0.0.1:0")
	require.NoError(t, err)
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = s.Close()
		}
	})
	for _, path := range []string{"", "goroutine?debug=1", "heap?debug=1", "cmdline"} {
		resp, err := http.Get(s.URL() + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.NotEmpty(t, body, path)
		if path == "goroutine?debug=1" {
			assert.True(t, strings.Contains(string(body), "goroutine profile"), "a goroutine profile")
		}
	}
	require.NoError(t, s.Close())
	closed = true
	_, err = http.Get(s.URL())
	assert.Error(t, err, "nothing listens after Close")
}

func TestListenRejectsBadAddress(t *testing.T) {
	_, err := Listen("not an address")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not an address")
}
