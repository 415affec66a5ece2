package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/store"
)

// ErrInterrupted means the table has a migration whose controller died, and the run was not
// told what to do about it (resume it, or clean it up and start over).
var ErrInterrupted = errors.New("the table has an interrupted migration")

// interrupted finds the migration of p's table whose controller is gone, if any.
func interrupted(ctx context.Context, st *store.Store, p *planner.Plan) (store.Migration, bool, error) {
	left, err := st.Leftovers(ctx, p.Schema)
	if err != nil {
		return store.Migration{}, false, err
	}
	for _, l := range left {
		if l.Kind == store.LeftoverStaleMigration && l.Table == p.Table {
			m, err := st.Get(ctx, l.MigrationID)
			return m, err == nil, err
		}
	}
	return store.Migration{}, false, nil
}

// startOrResume starts p, or resumes the interrupted migration of its table when it is the same
// change and the user wants that (--resume, or yes on the terminal). A different change, or no
// answer, is refused with what to do; nothing is ever restarted from zero silently.
func startOrResume(ctx context.Context, opts *RunOptions, st *store.Store, r *runner.Runner, p *planner.Plan,
	ro runner.RunOptions) (*runner.Handle, error) {
	m, found, err := interrupted(ctx, st, p)
	if err != nil || !found {
		if opts.Resume && err == nil {
			return nil, fmt.Errorf("--resume: %s.%s has no interrupted migration to resume", p.Schema, p.Table)
		}
		return r.Start(ctx, p, ro)
	}
	cleanup := fmt.Sprintf("%s --migration %s", store.CleanupCommand, m.ID)
	if m.DDL != strings.Join(p.Statements, ";\n") {
		return nil, fmt.Errorf("%w: %s.%s has migration %s of a different change, interrupted (%s); its copy can only go on "+
			"with that change: run it again with --resume, or run `%s` to drop its tables and start this one over",
			ErrInterrupted, p.Schema, p.Table, m.ID, m.DDL, cleanup)
	}
	progress := ""
	if m.Progress != nil {
		progress = fmt.Sprintf(" (%d of about %d rows copied)", m.Progress.RowsCopied, m.Progress.RowsEstimated)
	}
	if !opts.Resume {
		q := fmt.Sprintf("Migration %s of this change on %s.%s was interrupted%s. Resume it from its checkpoint?", m.ID, p.Schema, p.Table, progress)
		if !opts.Plan.IO.InTTY || !confirm(opts.Plan.IO, q) {
			return nil, fmt.Errorf("%w: migration %s of this change was interrupted%s; pass --resume to continue it from gh-ost's checkpoint, or run `%s` to start over",
				ErrInterrupted, m.ID, progress, cleanup)
		}
	}
	fmt.Fprintf(opts.Plan.IO.ErrOut, "resuming migration %s from gh-ost's checkpoint\n", m.ID)
	return r.Resume(ctx, m.ID, ro)
}
