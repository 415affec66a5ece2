package server_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/server"
)

func TestCheckListen(t *testing.T) {
	cases := []struct {
		addr   string
		remote bool
		ok     bool
	}{
		{"127.0.0.1:8470", false, true},
		{"[::1]:8470", false, true},
		{"localhost:8470", false, true},
		{"127.0.0.2:0", false, true},
		{":8470", false, false},
		{"0.0.0.0:8470", false, false},
		{"10.0.0.5:8470", false, false},
		{"db1.example.com:8470", false, false},
		{"0.0.0.0:8470", true, true},
		{"8470", false, false},
	}
	for _, c := range cases {
		err := server.CheckListen(c.addr, c.remote)
		if c.ok {
			require.NoError(t, err, c.addr)
			continue
		}
		require.Error(t, err, c.addr)
		if c.addr != "8470" {
			require.ErrorIs(t, err, server.ErrNotLoopback, c.addr)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{`"1.5s"`, 1500 * time.Millisecond, false},
		{`"250ms"`, 250 * time.Millisecond, false},
		{`1000000`, time.Millisecond, false},
		{`"soon"`, 0, true},
		{`true`, 0, true},
	}
	for _, c := range cases {
		var d client.Duration
		err := json.Unmarshal([]byte(c.in), &d)
		if c.err {
			require.Error(t, err, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		require.Equal(t, c.want, time.Duration(d), c.in)
	}
	b, err := json.Marshal(client.Limits{MaxReplicaLag: client.Duration(2 * time.Second)})
	require.NoError(t, err)
	require.JSONEq(t, `{"max_replica_lag": "2s"}`, string(b))
}

func TestAPIErrorIs(t *testing.T) {
	cases := []struct {
		code int
		want error
	}{
		{http.StatusBadRequest, client.ErrBadRequest},
		{http.StatusUnauthorized, client.ErrUnauthorized},
		{http.StatusNotFound, client.ErrNotFound},
		{http.StatusConflict, client.ErrConflict},
		{http.StatusServiceUnavailable, client.ErrUnavailable},
		{http.StatusInternalServerError, client.ErrServer},
	}
	all := []error{client.ErrBadRequest, client.ErrUnauthorized, client.ErrNotFound, client.ErrConflict, client.ErrUnavailable}
	for _, c := range cases {
		err := error(&client.APIError{StatusCode: c.code, Message: "x"})
		require.ErrorIs(t, err, c.want)
		for _, other := range all {
			if other != c.want {
				require.False(t, errors.Is(err, other), "%d is not %v", c.code, other)
			}
		}
	}
}

func TestHandlerNeedsToken(t *testing.T) {
	_, err := server.NewHandler(nil, server.HandlerOptions{Token: "short"})
	require.Error(t, err)
}
