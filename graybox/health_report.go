package graybox

import (
	"context"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
)

// Recorder returns the request recorder of table ("schema.table"), nil (which ignores
// everything) for a table not in Config.Tables. A service calls Observe on it for every request
// that reads or writes the table; the participant then reports the table's p99 latency, error
// rate and request count with every heartbeat, and faster while the controller asks for it (a
// migration of the table is running and throttles on the services' health). Hold on to it in
// the hot path: the lookup is a map read.
func (p *Participant) Recorder(table string) *Recorder { return p.recorders[table] }

// Observe is Recorder(table).Observe(d, failed).
func (p *Participant) Observe(table string, d time.Duration, failed bool) {
	p.recorders[table].Observe(d, failed)
}

// health is the report of every table something was observed on (in Config order); nil when
// the service records nothing, so that it is no health input for the controller.
func (p *Participant) health() []wire.TableHealth {
	var out []wire.TableHealth
	for _, t := range p.cfg.Tables {
		if r := p.recorders[t]; r.Used() {
			out = append(out, r.Snapshot())
		}
	}
	return out
}

// Measure is a middleware that records every request next serves on rec: its latency, and as
// an error any 5xx answer or a panic. It allocates a small response wrapper per request; a
// service that cannot afford it calls Recorder.Observe itself.
func Measure(rec *Recorder, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		failed := true // stays true only if next panics
		defer func() { rec.Observe(time.Since(start), failed) }()
		next.ServeHTTP(sw, r)
		failed = sw.code >= 500
	})
}

// statusWriter remembers the status code of a response.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the original writer (Flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// pushHealth sends one health report and returns the controller's answer. A 404 is the
// heartbeat's business (it registers again); here it only means "no answer".
func (p *Participant) pushHealth(ctx context.Context, kick chan<- os.Signal) (wire.RegistrationResponse, bool) {
	tables := p.health()
	if len(tables) == 0 {
		return wire.RegistrationResponse{}, false
	}
	rr, err := p.client.health(ctx, wire.HealthReport{InstanceID: p.cfg.InstanceID, Tables: tables})
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			p.observe(EventError, nil, err)
		}
		return rr, false
	}
	p.heardFrom(rr.LeaseTTL())
	p.poke(rr, kick)
	return rr, true
}

// minHealthPush bounds how often a participant pushes, whatever the controller asks.
const minHealthPush = 100 * time.Millisecond

// healthEvery is the push interval rr asks for; 0: no pushes.
func healthEvery(rr wire.RegistrationResponse) time.Duration {
	d := rr.HealthInterval()
	if d <= 0 {
		return 0
	}
	return max(d, minHealthPush)
}
