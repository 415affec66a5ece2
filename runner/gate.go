package runner

import "context"

// Target is what a Gate decides about: one migration that is ready to cut over.
type Target struct {
	MigrationID string
	Schema      string
	Table       string
	// Ghost is the table the cut-over renames into Table's place: gh-ost's ghost table, or for a
	// revert the kept original. Empty means gh-ost's ghost table of Table.
	Ghost string
}

// Gate stands between "gh-ost has copied the table and is postponing the cut-over" and the atomic
// rename. The runner asks it once the engine is ready; the rename happens only after Await
// returns nil. An error (or ctx ending) aborts the migration and leaves the original table.
type Gate interface {
	Await(ctx context.Context, t Target) error
}

// Finisher is implemented by a Gate that must hear how the cut-over ended (the cut-over gate
// tells its participants commit or abort). The runner calls Finish once for every migration whose
// gate it asked: err is nil after a verified rename, the failure or cancellation otherwise.
type Finisher interface {
	Finish(ctx context.Context, t Target, err error)
}

// OpenGate lets every migration cut over as soon as the engine is ready: the behaviour of plain
// gh-ost, and the gate `migrate run` uses until the cut-over gate is configured.
type OpenGate struct{}

var _ Gate = OpenGate{}

// Await returns at once.
func (OpenGate) Await(context.Context, Target) error { return nil }
