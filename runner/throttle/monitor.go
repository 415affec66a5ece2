package throttle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ErrRunning is returned by a second concurrent Run of the same Monitor.
var ErrRunning = errors.New("throttle: monitor already running")

// Monitor is the throttler: collectors, each on its own goroutine, store their readings; every
// new reading (and every Pause/Resume) recomputes the decision and publishes it when its state
// changed.
type Monitor struct {
	cfg      Config
	primary  *sql.DB
	replicas []Replica
	client   *http.Client
	now      func() time.Time
	running  atomic.Bool
	health   HealthSource // nil: the services' health is no input
	onNote   func(string)

	mu      sync.Mutex
	in      inputs
	cur     Decision
	subs    map[chan Decision]struct{}
	settled chan struct{} // closed once every input has been read once (see Settled)
}

// New returns a Monitor over the primary and replicas; it collects nothing until Run.
func New(primary *sql.DB, replicas []Replica, cfg Config) (*Monitor, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if primary == nil {
		return nil, errors.New("throttle: nil primary")
	}
	m := &Monitor{
		cfg:      cfg,
		primary:  primary,
		replicas: append([]Replica(nil), replicas...),
		client:   &http.Client{Timeout: cfg.HTTPTimeout},
		now:      time.Now,
		subs:     map[chan Decision]struct{}{},
		settled:  make(chan struct{}),
	}
	m.in.services = serviceState{latest: map[string]HealthReport{}, noted: map[string]bool{}}
	for i, r := range m.replicas {
		if r.DB == nil {
			return nil, fmt.Errorf("throttle: replica %q: nil DB", r.Name)
		}
		if r.Name == "" {
			m.replicas[i].Name = fmt.Sprintf("replica%d", i+1)
		}
		m.in.replicas = append(m.in.replicas, replicaReading{name: m.replicas[i].Name})
	}
	m.cur = decide(cfg, m.in, m.now())
	m.cur.Since = m.now()
	if allRead(cfg, m.in) {
		close(m.settled) // nothing to read: the first decision is already the real one
	}
	return m, nil
}

// Settled is closed once Run has read every input at least once. Until then the decision can
// only say "not checked yet"; a consumer that waits for Settled before it starts work sees the
// real first decision, and records a migration that starts throttled as throttled (issue 12: a
// start behind an HTTP check answering 503 lost its throttle time). Every collector's first
// reading is bounded by its timeout, so Settled comes within about QueryTimeout (or
// HTTPTimeout) after Run starts.
func (m *Monitor) Settled() <-chan struct{} { return m.settled }

// Config returns the settings in effect (with defaults filled in).
func (m *Monitor) Config() Config { return m.cfg }

// Decision returns the current decision.
func (m *Monitor) Decision() Decision {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur
}

// Lag is the worst replica lag our heartbeat measures, and whether every replica has one (a
// replica our heartbeat has not reached, or that cannot be read, leaves it unknown).
func (m *Monitor) Lag() (time.Duration, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var worst time.Duration
	for _, r := range m.in.replicas {
		if r.err != nil || !r.heartbeat {
			return 0, false
		}
		worst = max(worst, r.lag)
	}
	return worst, len(m.in.replicas) > 0
}

// Subscribe returns a channel of decision changes. It holds at most one pending decision: a slow
// reader gets the latest, never a stale backlog.
func (m *Monitor) Subscribe() (<-chan Decision, func()) {
	ch := make(chan Decision, 1)
	m.mu.Lock()
	m.subs[ch] = struct{}{}
	m.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			m.mu.Lock()
			delete(m.subs, ch)
			close(ch)
			m.mu.Unlock()
		})
	}
}

// Pause throttles until Resume, with reason shown in the decision.
func (m *Monitor) Pause(reason string) {
	m.update(func(in *inputs) { in.paused, in.pauseMsg = true, reason })
}

// Resume lifts a Pause.
func (m *Monitor) Resume() {
	m.update(func(in *inputs) { in.paused, in.pauseMsg = false, "" })
}

// update applies a change to the inputs, recomputes the decision and publishes a new state.
func (m *Monitor) update(change func(*inputs)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	change(&m.in)
	now := m.now()
	d := decide(m.cfg, m.in, now)
	select {
	case <-m.settled:
	default:
		if allRead(m.cfg, m.in) {
			defer close(m.settled) // after the decision below is in place
		}
	}
	if d.SameState(m.cur) {
		d.Since = m.cur.Since
		m.cur = d
		return
	}
	d.Since = now
	m.cur = d
	for ch := range m.subs {
		select { // keep only the latest: drop a pending one the reader has not taken
		case <-ch:
		default:
		}
		ch <- d
	}
}

// Run collects until ctx is done, then removes its heartbeat row and returns nil. It returns an
// error only when it cannot start (the heartbeat table cannot be created, or already running).
func (m *Monitor) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer m.running.Store(false)
	m.update(func(in *inputs) { in.beat = beatState{started: m.now()} })
	if len(m.replicas) > 0 {
		if err := ensureHeartbeat(ctx, m.primary, m.cfg.HeartbeatSchema); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	loop := func(timeout time.Duration, f func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			every(ctx, m.cfg.Interval, func() {
				qctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				f(qctx)
			})
		}()
	}
	if vars := m.cfg.statusVariables(); len(vars) > 0 {
		loop(m.cfg.QueryTimeout, func(ctx context.Context) { m.collectLoad(ctx, vars) })
	}
	if len(m.replicas) > 0 {
		loop(m.cfg.QueryTimeout, m.beat)
	}
	for i := range m.replicas {
		loop(m.cfg.QueryTimeout, func(ctx context.Context) { m.collectReplica(ctx, i) })
	}
	if m.cfg.HTTPURL != "" {
		loop(m.cfg.HTTPTimeout, m.collectHTTP)
	}
	if m.health != nil && m.cfg.ServiceHealth.Enabled() {
		unwatch := m.health.WatchHealth()
		defer unwatch()
		start := m.now()
		loop(m.cfg.QueryTimeout, func(context.Context) { m.collectServices(start) })
	}
	<-ctx.Done()
	wg.Wait()
	m.client.CloseIdleConnections() // no keep-alive goroutines outlive Run
	if len(m.replicas) > 0 {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.QueryTimeout)
		defer cancel()
		_ = deleteHeartbeat(cctx, m.primary, m.cfg.HeartbeatSchema, m.cfg.WriterID) // best effort: a stale row only costs a row
	}
	return nil
}

// every calls f at once and then every d until ctx is done.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		f()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Monitor) collectLoad(ctx context.Context, vars []string) {
	values, err := readLoad(ctx, m.primary, vars)
	if errors.Is(err, context.Canceled) {
		return // shutting down: not a reading
	}
	at := m.now()
	m.update(func(in *inputs) {
		_, _, critical := exceeded(values, m.cfg.CriticalLoad)
		in.load = loadReading{at: at, values: values, err: err,
			criticalSince: trackCritical(in.load.criticalSince, err == nil && critical, at)}
	})
}

func (m *Monitor) beat(ctx context.Context) {
	// A failed write needs no reading of its own: the heartbeat stops advancing, the lag read on
	// the replicas grows and throttles.
	at := m.now()
	if writeHeartbeat(ctx, m.primary, m.cfg.HeartbeatSchema, m.cfg.WriterID, at) != nil {
		return
	}
	m.mu.Lock()
	first := m.in.beat.first.IsZero()
	m.mu.Unlock()
	if first {
		m.update(func(in *inputs) {
			if in.beat.first.IsZero() {
				in.beat.first = at
			}
		})
	}
}

func (m *Monitor) collectReplica(ctx context.Context, i int) {
	rd := readReplica(ctx, m.replicas[i], m.cfg.HeartbeatSchema, m.cfg.WriterID, m.now)
	if errors.Is(rd.err, context.Canceled) {
		return
	}
	m.update(func(in *inputs) { in.replicas[i] = rd })
}

// WatchServices makes src's reports an input (when Config.ServiceHealth is on); note, when not
// nil, receives what is worth a line in the migration's event log: each service's baseline,
// a service without one, an instance that fell silent. Call it before Run.
func (m *Monitor) WatchServices(src HealthSource, note func(string)) {
	m.health, m.onNote = src, note
}

// collectServices reads the reports received since the last reading; the first reading also
// takes the baselines, from the reports of the BaselineWindow before start (when Run began).
func (m *Monitor) collectServices(start time.Time) {
	m.mu.Lock()
	since := m.in.services.seen
	if !m.in.services.read {
		since = start.Add(-m.cfg.ServiceHealth.BaselineWindow - time.Nanosecond)
	}
	m.mu.Unlock()
	reports := m.health.HealthReports(since)
	var notes []string
	m.update(func(in *inputs) { notes = absorb(m.cfg.ServiceHealth, &in.services, start, reports, m.now()) })
	if m.onNote != nil {
		for _, n := range notes {
			m.onNote(n)
		}
	}
}

func (m *Monitor) collectHTTP(ctx context.Context) {
	status, err := checkHTTP(ctx, m.client, m.cfg.HTTPURL)
	if errors.Is(err, context.Canceled) {
		return
	}
	at := m.now()
	m.update(func(in *inputs) { in.http = httpReading{at: at, status: status, err: err} })
}
