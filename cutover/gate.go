package cutover

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/runner"
)

// EngineState reports the engine's side of the gate: whether the copy is complete and the
// engine is postponing the cut-over, and how many binlog events it has not yet applied to the
// ghost table. The runner provides it (from gh-ost's status); the gate never asks gh-ost itself.
type EngineState func() (ready bool, backlog int64)

// Deps are what a gate reads and talks to. Only DB and Engine are required.
type Deps struct {
	// DB is a pool on the primary that holds the table.
	DB *sql.DB
	// Engine reports readiness and backlog.
	Engine EngineState
	// Replicas are watched for lag (Seconds_Behind_Master) when Window.MaxReplicaLag is set.
	Replicas []Replica
	// ReplicaLag, when set, replaces reading Replicas: the worst lag of all replicas, or an
	// error naming the one that is not replicating (e.g. the throttler's heartbeat lag, which has
	// millisecond resolution where Seconds_Behind_Master has whole seconds).
	ReplicaLag func(ctx context.Context) (time.Duration, error)
	// AwaitApplied blocks until the engine has applied to the ghost table every change the
	// primary's binary log holds up to file:pos (a position SHOW MASTER STATUS reported), or ctx
	// ends. Required with the checksum: it is what makes the comparison of a chunk exact while
	// writers write (checksum_compare.go). The runner provides it (runner.Handle.AwaitApplied).
	AwaitApplied func(ctx context.Context, file string, pos uint64) error
	// Registry holds the participants; nil means the table has none (no participants line).
	Registry *Registry
	// Events receives every decision; nil drops them.
	Events EventSink
}

// Gate errors.
var (
	// ErrAwaiting: Await was called while another Await of the same gate is running.
	ErrAwaiting = errors.New("cutover: gate is already awaited")
	// ErrNotManual: Approve on a gate whose approval is not manual.
	ErrNotManual = errors.New("cutover: approval is not manual")
)

// Gate is the cut-over gate of one migration. Await blocks until every condition holds at the
// same check; Finish tells the participants how the rename went. Safe for concurrent use.
type Gate struct {
	cfg  Config
	deps Deps
	hub  hub
	wake chan struct{}

	mu       sync.Mutex
	awaiting bool
	target   runner.Target
	approved bool
	by       string // who approved
	noted    bool   // the approval is in the event log
	opened   bool   // the last Await opened and Finish has not run yet
	qps      rateWindow
	plugin   bool
	trxLine  Line              // the transactions line as last read
	trxAt    time.Time         // when INNODB_TRX was last read
	waiting  string            // the failing lines last recorded
	issues   map[string]string // instance id → the issue last recorded
	rounds   roundState        // the prepare rounds (participants.go, rounds.go)
}

var _ runner.Gate = (*Gate)(nil)

// New returns the gate of one migration. cfg gets its defaults and must validate.
func New(cfg Config, deps Deps) (*Gate, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case deps.DB == nil:
		return nil, fmt.Errorf("%w: nil DB", ErrConfig)
	case deps.Engine == nil:
		return nil, fmt.Errorf("%w: nil engine state", ErrConfig)
	case cfg.Window.MaxReplicaLag > 0 && len(deps.Replicas) == 0 && deps.ReplicaLag == nil:
		return nil, fmt.Errorf("%w: max replica lag set but no replica to watch", ErrConfig)
	case cfg.Checksum.Enabled && deps.AwaitApplied == nil:
		return nil, fmt.Errorf("%w: the checksum needs the engine's applied binlog position (Deps.AwaitApplied)", ErrConfig)
	case deps.Registry != nil && (cfg.Participants.OldVersion == "" || cfg.Participants.NewVersion == ""):
		return nil, fmt.Errorf("%w: participants need the old and new schema version", ErrConfig)
	}
	if deps.Events == nil {
		deps.Events = NoopSink{}
	}
	deps.Replicas = append([]Replica(nil), deps.Replicas...)
	cfg.Checksum.Exclude = append([]string(nil), cfg.Checksum.Exclude...)
	return &Gate{
		cfg: cfg, deps: deps, wake: make(chan struct{}, 1), issues: map[string]string{},
		qps: rateWindow{baseline: cfg.Window.QPSBaseline, recent: cfg.Window.QPSRecent},
	}, nil
}

// Config returns the settings in effect (with defaults).
func (g *Gate) Config() Config { return g.cfg }

// Checklist returns the latest checklist (zero before the first check).
func (g *Gate) Checklist() Checklist { return g.hub.get() }

// Subscribe returns a channel of checklist changes (it holds only the latest) and a func that
// unsubscribes and closes it.
func (g *Gate) Subscribe() (<-chan Checklist, func()) { return g.hub.subscribe() }

// Approve gives the manual approval (API, CLI, TUI); by names who gave it, for the event log.
func (g *Gate) Approve(ctx context.Context, by string) error {
	if g.cfg.Approval.Mode != ApprovalManual {
		return fmt.Errorf("%w (mode %s)", ErrNotManual, g.cfg.Approval)
	}
	g.mu.Lock()
	if !g.approved {
		g.approved, g.by = true, by
	}
	g.mu.Unlock()
	g.noteApproval(ctx)
	g.poke()
	return nil
}

// noteApproval records the approval once the migration is known (an approval may come before
// the migration reaches the gate).
func (g *Gate) noteApproval(ctx context.Context) {
	g.mu.Lock()
	note := g.approved && !g.noted && g.target.MigrationID != ""
	g.noted = g.noted || note
	id, by := g.target.MigrationID, g.by
	g.mu.Unlock()
	if note {
		_ = g.record(ctx, Event{MigrationID: id, Kind: EventApproval, Message: "cut-over approved by " + by, Data: map[string]string{"by": by}})
	}
}

func (g *Gate) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

func (g *Gate) record(ctx context.Context, e Event) error {
	if e.MigrationID == "" {
		g.mu.Lock()
		e.MigrationID = g.target.MigrationID
		g.mu.Unlock()
	}
	return g.deps.Events.Record(context.WithoutCancel(ctx), e)
}

// Await blocks until every condition holds at the same check (nil: rename now), or ctx ends
// (its error, wrapped). Before returning an error it sends abort to every instance it prepared.
// When it returned nil, the caller must call Finish with the outcome of the rename.
func (g *Gate) Await(ctx context.Context, t runner.Target) error {
	g.mu.Lock()
	if g.awaiting {
		g.mu.Unlock()
		return ErrAwaiting
	}
	g.awaiting, g.target, g.opened, g.waiting, g.trxAt = true, t, false, "", time.Time{}
	g.rounds = roundState{count: g.rounds.count} // round numbers stay unique across Awaits
	g.mu.Unlock()
	if g.deps.Registry != nil {
		g.deps.Registry.enterGate(t.MigrationID)
	}
	defer func() {
		g.mu.Lock()
		g.awaiting = false
		g.mu.Unlock()
	}()

	g.noteApproval(ctx)
	err := g.await(ctx, t)
	if err == nil {
		return nil
	}
	cl := g.hub.get()
	cl.Closed, cl.Time = closedReason(ctx, err), time.Now()
	g.hub.publish(cl)
	_ = g.record(ctx, Event{Kind: EventGateClosed, Message: "gate closed without opening: " + cl.Closed, Data: cl})
	_ = g.deliverAll(context.WithoutCancel(ctx), t, wire.PhaseAbort) // named in its own event
	if g.deps.Registry != nil {
		g.deps.Registry.leaveGate(t.MigrationID)
	}
	return err
}

// await runs the checks; its goroutines (checksum, deliveries) have ended when it returns.
func (g *Gate) await(ctx context.Context, t runner.Target) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	var cs *checksummer
	if g.cfg.Checksum.Enabled {
		cs = g.newChecksummer(t)
		wg.Go(func() { cs.run(ctx) })
	}
	qctx, qcancel := context.WithTimeout(ctx, g.cfg.QueryTimeout)
	plugin, _ := hasMDLPlugin(qctx, g.deps.DB) // unknown means "no plugin": the stricter check
	qcancel()
	g.mu.Lock()
	g.plugin = plugin
	g.mu.Unlock()

	tick := time.NewTicker(g.cfg.Interval)
	defer tick.Stop()
	for {
		cl := g.check(ctx, t, cs, &wg)
		if ctx.Err() != nil {
			// A check cut short by the cancel fails its queries with "context canceled": those
			// lines say nothing about the table and must not reach the checklist or the event
			// log as a changed wait (issue 13).
			return fmt.Errorf("cutover: gate of %s.%s: %w", t.Schema, t.Table, ctx.Err())
		}
		if cl.OK() {
			cl.Open = true
			// Recorded before it is acted on; if the log cannot take it, the gate waits.
			if err := g.record(ctx, Event{Kind: EventGateOpened, Message: "gate open: all conditions hold", Data: cl}); err == nil {
				g.mu.Lock()
				g.opened = true
				g.mu.Unlock()
				g.hub.publish(cl)
				return nil
			}
			cl.Open = false
		}
		g.hub.publish(cl)
		g.recordWaiting(ctx, cl)
		select {
		case <-ctx.Done():
			return fmt.Errorf("cutover: gate of %s.%s: %w", t.Schema, t.Table, ctx.Err())
		case <-tick.C:
		case <-g.wake:
		}
	}
}

// closedReason is why Await stopped, as a checklist shows it: the cause of a cancel when one
// was given, "cancelled" or "timed out" for a bare context end, the error otherwise.
func closedReason(ctx context.Context, err error) string {
	switch {
	case ctx.Err() == nil:
		return err.Error()
	case context.Cause(ctx) != ctx.Err():
		return "cancelled: " + context.Cause(ctx).Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	return "cancelled"
}

func (g *Gate) recordWaiting(ctx context.Context, cl Checklist) {
	key := cl.failingNames()
	g.mu.Lock()
	changed := key != g.waiting
	g.waiting = key
	g.mu.Unlock()
	if changed && key != "" {
		_ = g.record(ctx, Event{Kind: EventGateWaiting, Message: "gate closed: " + cl.Summary(), Data: cl.Failing()})
	}
}

func (g *Gate) newChecksummer(t runner.Target) *checksummer {
	return &checksummer{
		db: g.deps.DB, schema: t.Schema, table: t.Table, ghost: ghostOf(t), cfg: g.cfg.Checksum,
		awaitApplied: g.deps.AwaitApplied,
		record: func(e Event) {
			e.MigrationID = t.MigrationID
			_ = g.deps.Events.Record(context.Background(), e)
		},
		state: "pending",
	}
}

// ghostOf is the table the cut-over of t renames into place.
func ghostOf(t runner.Target) string {
	if t.Ghost != "" {
		return t.Ghost
	}
	return GhostTable(t.Table)
}

// Finish tells the participants the outcome of the rename: commit when ok, abort otherwise.
// The runner calls it once after the cut-over attempt that followed Await returning nil. It
// waits for their acks (Participants.FinishTimeout at most) and returns a *PhaseError naming the
// instances that did not acknowledge; the rename's outcome stands either way. Calling it when
// the gate did not open, or a second time, does nothing.
func (g *Gate) Finish(ctx context.Context, ok bool) error {
	g.mu.Lock()
	opened, t := g.opened, g.target
	g.opened = false
	g.mu.Unlock()
	if !opened {
		return nil
	}
	phase := wire.PhaseCommit
	if !ok {
		phase = wire.PhaseAbort
	}
	if g.deps.Registry != nil {
		defer g.deps.Registry.leaveGate(t.MigrationID)
	}
	return g.deliverAll(ctx, t, phase)
}
