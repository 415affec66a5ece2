package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/store"
)

// ErrNotResumable means a migration cannot be resumed by Resume: it is not a gh-ost migration,
// or its record lacks the plan. ghost.ErrNotResumable (from the engine) says why a checkpoint
// cannot be used.
var ErrNotResumable = errors.New("runner: migration cannot be resumed")

// engineData is what the runner records when a gh-ost worker starts (store.EventEngine): a
// resume must read the binlog from the same server, whose checkpoint coordinates are file:pos.
type engineData struct {
	InspectorServerID uint32 `json:"inspector_server_id"`
	Resumed           bool   `json:"resumed,omitempty"`
	// OldTable is set once the cut-over succeeded and the original was kept: a revert's start.
	OldTable string `json:"old_table,omitempty"`
}

// resumeState is what a resumed Handle continues from.
type resumeState struct {
	inspectorServerID uint32
	status            migration.Status // the status it had when its controller died
	tuning            string           // what operators had set and the resume keeps (tuning.describe)
}

// Resume continues the gh-ost migration id whose controller died, from gh-ost's last checkpoint,
// as the same migration: it takes the migration over in the store (refused, *store.OwnerAliveError,
// while its owner still heartbeats), and runs it on. The gate is asked afresh when gh-ost is at
// the gate again: approvals and prepared participants of the dead run are not assumed.
func (r *Runner) Resume(ctx context.Context, id string, opts RunOptions) (*Handle, error) {
	m, err := r.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	var plan planner.Plan
	if err := json.Unmarshal(m.Plan, &plan); err != nil || len(m.Plan) == 0 {
		return nil, fmt.Errorf("%w: %s has no readable plan", ErrNotResumable, id)
	}
	if plan.Strategy != planner.StrategyGhost {
		return nil, fmt.Errorf("%w: %s is a %s migration (only gh-ost migrations checkpoint)", ErrNotResumable, id, plan.Strategy)
	}
	evs, err := r.store.EventsOf(ctx, id, store.EventEngine, store.EventTuning)
	if err != nil {
		return nil, err
	}
	from, err := engineOf(id, evs)
	if err != nil {
		return nil, err
	}
	claimed := time.Now()
	if m, err = r.store.TakeOver(ctx, id); err != nil {
		return nil, err
	}
	// What operators set while the dead run copied stays set (issue 12): the copy an operator
	// slowed down for a suffering application does not come back at full speed with a new owner.
	kept := tuningOf(evs)
	return r.launch(ctx, m.ID, &plan, opts, claimed, func(h *Handle) {
		h.resume = &resumeState{inspectorServerID: from.InspectorServerID, status: m.Status, tuning: kept.describe()}
		h.tuning = kept
	})
}

// lastEngine reads what the last worker of migration id recorded when it started.
func (r *Runner) lastEngine(ctx context.Context, id string) (engineData, error) {
	evs, err := r.store.EventsOf(ctx, id, store.EventEngine)
	if err != nil {
		return engineData{}, err
	}
	return engineOf(id, evs)
}

// engineOf reads, from migration id's event log evs, what its last worker recorded when it
// started.
func engineOf(id string, evs []store.Event) (engineData, error) {
	var d engineData
	found := false
	for _, e := range evs {
		var x engineData
		if e.Kind == store.EventEngine && json.Unmarshal(e.Data, &x) == nil {
			d, found = x, true
		}
	}
	if !found {
		return engineData{}, fmt.Errorf("%w: %s never started a gh-ost worker (nothing was copied): start it over", ErrNotResumable, id)
	}
	return d, nil
}

// startResumed records, instead of the usual queued → planning → running steps, that a resumed
// migration goes on: one waiting at the gate goes back to running until gh-ost is there again.
func (h *Handle) startResumed(ctx context.Context) error {
	kept := ""
	if h.resume.tuning != "" {
		kept = "; kept as set before: " + h.resume.tuning
	}
	if h.resume.status == migration.StatusReady {
		return h.transition(ctx, migration.StatusRunning, "resumed from gh-ost's checkpoint; the gate is asked again"+kept)
	}
	h.mu.Lock()
	h.status = h.resume.status
	h.mu.Unlock()
	return h.r.store.AddEvent(ctx, h.id, store.EventNote, "resumed from gh-ost's checkpoint"+kept, nil)
}
