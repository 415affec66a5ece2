package ghost

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/github/gh-ost/go/base"

	"github.com/ghostgate/ghostgate/internal/debugsrv"
)

// pprofFile holds the address the worker's profile server listens on: the controller learns it
// from there (the address may have a kernel-chosen port) without a new event in the protocol.
func (s Spec) pprofFile() string { return filepath.Join(s.WorkDir, "pprof.addr") }

// servePprof starts the worker's profile server when the spec asks for one and returns the func
// that stops it. A server that cannot start is logged and the migration goes on: profiles are a
// diagnosis aid, never a reason to fail a migration.
func servePprof(s Spec, log base.Logger) (stop func()) {
	if s.PprofAddr == "" {
		return func() {}
	}
	srv, err := debugsrv.Listen(s.PprofAddr)
	if err != nil {
		log.Warningf("worker pprof: %v", err)
		return func() {}
	}
	log.Infof("worker pprof: serving %s", srv.URL())
	if err := os.WriteFile(s.pprofFile(), []byte(srv.Addr()+"\n"), 0o600); err != nil {
		log.Warningf("worker pprof: %v", err)
	}
	return func() { _ = srv.Close() }
}

// PprofAddr is the address the worker serves its profiles on; empty until it does, and when the
// spec did not ask for profiles.
func (w *Worker) PprofAddr() string {
	if w.spec.PprofAddr == "" {
		return ""
	}
	b, err := os.ReadFile(w.spec.pprofFile())
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
