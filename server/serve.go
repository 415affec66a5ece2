package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// DefaultListen is where `migrate serve` listens unless told otherwise: loopback only.
const DefaultListen = "127.0.0.1:8470"

// ErrNotLoopback refuses a listen address that other hosts could reach, unless allowed.
var ErrNotLoopback = errors.New("server: listen address is not a loopback address")

// CheckListen refuses addr unless its host is a loopback address (or "localhost"), or
// allowRemote is set. An empty host (":8470") listens on every interface, so it is remote.
func CheckListen(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("server: listen address %q: %w", addr, err)
	}
	if allowRemote || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %q (other hosts could reach the API; pass --allow-remote to mean it)", ErrNotLoopback, addr)
}

// Timeouts of the HTTP server. The stream and long polls lift the write timeout for themselves.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 2 * time.Minute
	// ShutdownTimeout bounds the wait for requests in flight, then for migrations to end.
	ShutdownTimeout = 30 * time.Second
)

// Serve serves h on ln until ctx ends, then shuts down gracefully: it stops accepting, ends
// streams and long polls, waits for requests in flight, and closes the controller, which
// cancels the running migrations cleanly (original tables intact, recorded in the event log).
func Serve(ctx context.Context, ln net.Listener, h http.Handler, c *Controller) error {
	base, stopBase := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBase()
	srv := &http.Server{
		Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		WriteTimeout: WriteTimeout, IdleTimeout: IdleTimeout,
		// Requests derive from base: ending it ends the stream and long polls at shutdown,
		// which http.Server.Shutdown alone would wait for.
		BaseContext: func(net.Listener) context.Context { return base },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-served:
	case <-ctx.Done():
	}
	stopBase()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		err = errors.Join(err, serr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, c.Close(sctx))
}
