package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
)

func TestNewRefusesBadURLs(t *testing.T) {
	for _, s := range []string{"", "127.0.0.1:8470", "ftp://x", "http://"} {
		_, err := client.New(s, "", nil)
		require.Error(t, err, s)
	}
	c, err := client.New("http://127.0.0.1:8470/", "", nil)
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:8470", c.Server())
}

// TestErrorsAndToken: the token is sent as a bearer token; error answers become *APIError with
// the server's message, also when the body is not JSON.
func TestErrorsAndToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/migrations/a/pause":
			require.Equal(t, "Bearer tok", r.Header.Get("Authorization"))
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"error":"not running","plans":[{"table":"t"}]}`)
		default:
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, "upstream down\n")
		}
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, "tok", nil)
	require.NoError(t, err)
	_, err = c.Pause(context.Background(), "a")
	var api *client.APIError
	require.ErrorAs(t, err, &api)
	require.Equal(t, http.StatusConflict, api.StatusCode)
	require.Equal(t, "not running", api.Message)
	require.JSONEq(t, `[{"table":"t"}]`, string(api.Plans))
	require.ErrorIs(t, err, client.ErrConflict)

	_, err = c.List(context.Background())
	require.ErrorAs(t, err, &api)
	require.Equal(t, "upstream down", api.Message)
	require.ErrorIs(t, err, client.ErrServer)
}

// TestStreamParsing: events split over several data lines, comments and unknown fields.
func TestStreamParsing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "m1", r.URL.Query().Get("migration"))
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": hello\n\nid: 1\nevent: status\ndata: {\"seq\":1,\"migration_id\":\"m1\",\ndata: \"kind\":\"status\",\"status\":\"running\"}\n\n")
		fmt.Fprint(w, ": keep-alive\n\nid: 2\r\ndata: {\"seq\":2,\"kind\":\"checklist\",\"checklist\":{\"open\":true,\"lines\":[]}}\r\n\r\n")
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, "", nil)
	require.NoError(t, err)
	s, err := c.Stream(context.Background(), "m1")
	require.NoError(t, err)
	defer s.Close()
	ev, err := s.Next()
	require.NoError(t, err)
	require.EqualValues(t, 1, ev.Seq)
	require.Equal(t, "m1", ev.MigrationID)
	require.EqualValues(t, "running", ev.Status)
	ev, err = s.Next()
	require.NoError(t, err)
	require.Equal(t, client.KindChecklist, ev.Kind)
	require.True(t, ev.Checklist.Open)
	_, err = s.Next()
	require.True(t, errors.Is(err, io.EOF), "%v", err)
}
