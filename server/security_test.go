package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/server"
)

// remoteAPI serves f's controller as `migrate serve --allow-remote` does: reads need the token.
func remoteAPI(t *testing.T, f *fixture, maxStreams int) string {
	t.Helper()
	reg, err := cutover.NewRegistry(cutover.RegistryConfig{Secret: secret})
	require.NoError(t, err)
	h, err := server.NewHandler(f.ctrl, server.HandlerOptions{Token: token, OpenReads: false, Registry: reg, MaxStreams: maxStreams})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); reg.Close() })
	return srv.URL
}

func get(t *testing.T, url string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Issue 10: `X-Ghostgate-Signature: x` skipped the token check on the participant listing of a
// remote API. Every read needs the token there, whatever the headers say.
func TestRemoteReadsNeedTheToken(t *testing.T) {
	f := newFixture(t, 0)
	base := remoteAPI(t, f, 0)
	forged := map[string]string{wire.HeaderSignature: "x", wire.HeaderTimestamp: "1"}
	for _, path := range []string{wire.PathParticipants, wire.PathParticipants + "/", wire.ParticipantPath(wire.PathParticipant, "i-1"), "/v1/migrations"} {
		code, _ := get(t, base+path, forged)
		require.Equal(t, http.StatusUnauthorized, code, "GET %s with a forged signature header", path)
		code, _ = get(t, base+path, nil)
		require.Equal(t, http.StatusUnauthorized, code, "GET %s without the token", path)
	}
	code, body := get(t, base+wire.PathParticipants, map[string]string{"Authorization": "Bearer " + token})
	require.Equal(t, http.StatusOK, code, body)
	// A participant's own signed call still reaches the registry, which checks the signature.
	code, _ = get(t, base+wire.ParticipantPath(wire.PathPending, "i-1"), forged)
	require.Equal(t, http.StatusUnauthorized, code)
}

// Open event streams and long polls are capped: one more is a 429 with a message saying why.
func TestStreamsAreCapped(t *testing.T) {
	f := newFixture(t, 0)
	base := remoteAPI(t, f, 2)
	api, err := client.New(base, token, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 2 {
		s, err := api.Stream(ctx, "")
		require.NoError(t, err)
		defer s.Close()
	}
	code, body := get(t, base+client.PathStream, map[string]string{"Authorization": "Bearer " + token})
	require.Equal(t, http.StatusTooManyRequests, code)
	var er client.ErrorResponse
	require.NoError(t, json.Unmarshal([]byte(body), &er))
	require.Contains(t, er.Error, "too many open event streams and long polls (2")
	code, _ = get(t, base+"/v1/migrations/x/events?wait=5s", map[string]string{"Authorization": "Bearer " + token})
	require.Equal(t, http.StatusTooManyRequests, code, "a long poll takes a slot too")
	require.True(t, strings.HasPrefix(body, "{"))
}
