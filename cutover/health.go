package cutover

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/runner/throttle"
)

// Health reports (issue 12): participants send their own request figures per table with every
// heartbeat, and push them faster (wire.PathHealth) while a migration of one of their tables
// throttles on them. The registry keeps the recent ones per table in memory, for the
// throttlers of the migrations (throttle.HealthSource). They renew no lease: a report is a
// figure, not a sign of life the gate relies on.

// DefaultHealthPush is the push interval asked of participants while a throttler watches their
// table: with the throttler's 100ms reading and gh-ost's reaction, a copy is held well within a
// second of an instance slowing down. Four signed requests a second per instance, only while a
// migration of its table runs, keep the replay cache (60s window) at ~240 entries an instance.
const DefaultHealthPush = 250 * time.Millisecond

// Bounds of the reports kept per table: throttle.MaxBaselineWindow back, and at most this many
// (a heartbeat every 5s from 100 instances for 10 minutes is 12000).
const maxTableReports = 20000

// healthBook holds recent health reports by table. Safe for concurrent use; never takes the
// registry's lock (the registry calls it with its own held).
type healthBook struct {
	mu      sync.Mutex
	reports map[string][]throttle.HealthReport // by "schema.table", oldest first
	watched map[string]int                     // by table: throttlers reading it now
}

func newHealthBook() *healthBook {
	return &healthBook{reports: map[string][]throttle.HealthReport{}, watched: map[string]int{}}
}

// record keeps the figures of instance id (of service) for the tables it registered; figures
// for other tables, or invalid ones, are dropped (a heartbeat is not refused for them).
func (b *healthBook) record(service, id string, tables []string, figures []wire.TableHealth, at time.Time) {
	if len(figures) == 0 || wire.ValidateHealth(figures) != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range figures {
		if !slices.Contains(tables, f.Table) {
			continue
		}
		list := append(b.reports[f.Table], throttle.HealthReport{Service: service, Instance: id, At: at,
			Window: f.Window(), Requests: f.Requests, Errors: f.Errors, P99: f.P99()})
		cut := 0
		for cut < len(list) && (len(list)-cut > maxTableReports || at.Sub(list[cut].At) > throttle.MaxBaselineWindow) {
			cut++
		}
		// No Clip: the next append reuses the array's tail (amortized), and the dropped head is
		// freed when the array is next reallocated.
		b.reports[f.Table] = list[cut:]
	}
}

// since returns table's reports received after t, oldest first.
func (b *healthBook) since(table string, t time.Time) []throttle.HealthReport {
	b.mu.Lock()
	defer b.mu.Unlock()
	list := b.reports[table]
	i, _ := slices.BinarySearchFunc(list, t, func(r throttle.HealthReport, t time.Time) int {
		if r.At.After(t) {
			return 1
		}
		return -1
	})
	return slices.Clone(list[i:])
}

// pushInterval is the push interval to ask of an instance using tables: DefaultHealthPush while
// a throttler watches one of them, else 0.
func (b *healthBook) pushInterval(tables []string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range tables {
		if b.watched[t] > 0 {
			return DefaultHealthPush
		}
	}
	return 0
}

func (b *healthBook) watch(table string) func() {
	b.mu.Lock()
	b.watched[table]++
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.watched[table]--; b.watched[table] <= 0 {
				delete(b.watched, table)
			}
		})
	}
}

// tableHealth is the throttle.HealthSource of one table.
type tableHealth struct {
	b     *healthBook
	table string
}

var _ throttle.HealthSource = tableHealth{}

func (s tableHealth) HealthReports(since time.Time) []throttle.HealthReport {
	return s.b.since(s.table, since)
}
func (s tableHealth) WatchHealth() func() { return s.b.watch(s.table) }

// HealthSource is the participants' health for table ("schema.table"): the input of a
// migration's service-health throttle (throttle.Monitor.WatchServices).
func (r *Registry) HealthSource(table string) throttle.HealthSource {
	return tableHealth{b: r.health, table: table}
}

// Health records instance id's pushed report and answers as a heartbeat does, without renewing
// the lease.
func (r *Registry) Health(id string, rep wire.HealthReport) (wire.RegistrationResponse, error) {
	if rep.InstanceID != "" && rep.InstanceID != id {
		return wire.RegistrationResponse{}, fmt.Errorf("%w: health report of %q sent to %q", wire.ErrInvalid, rep.InstanceID, id)
	}
	if err := wire.ValidateHealth(rep.Tables); err != nil {
		return wire.RegistrationResponse{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	in, ok := r.instances[id]
	if !ok {
		return wire.RegistrationResponse{}, fmt.Errorf("%w: %q", ErrUnknownInstance, id)
	}
	r.health.record(in.reg.Service, id, in.reg.Tables, rep.Tables, r.now())
	return r.response(in), nil
}

func (r *Registry) serveHealth(w http.ResponseWriter, req *http.Request) {
	var rep wire.HealthReport
	body, err := r.authenticate(req)
	if err == nil {
		err = decode(body, &rep)
	}
	var resp wire.RegistrationResponse
	if err == nil {
		resp, err = r.Health(req.PathValue("id"), rep)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
