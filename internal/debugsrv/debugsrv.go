// Package debugsrv serves Go's runtime profiles (net/http/pprof) on a listener of its own, for
// `migrate serve --pprof-addr` and the gh-ost worker (--worker-pprof-addr), so the next bottleneck
// of a copy can be seen (issue 12). It is opt-in and never shares the API's listener: profiles
// show internals and cost CPU while taken, so they are off unless asked for, on loopback by
// default.
package debugsrv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Server is a running profile server.
type Server struct {
	ln  net.Listener
	srv *http.Server
	err chan error
}

// Listen serves the profiles on addr (host:port; port 0 lets the kernel choose, see Addr).
func Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debugsrv: listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also serves the named profiles (heap, goroutine, …)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s := &Server{ln: ln, err: make(chan error, 1),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() { s.err <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is where the profile index is served.
func (s *Server) URL() string { return "http://" + s.Addr() + "/debug/pprof/" }

// Close stops the server; a profile being taken is cut short.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	if serr := <-s.err; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
