package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// An interrupted gh-ost migration whose checkpoint survives is not just a leftover: its ghost
// and changelog tables are the copy a resume continues (`migrate run --resume`, or `migrate
// serve` on start). Cleaning it up, or them, throws that copy away, so the listing says so and the
// cleanup warns and asks (issue 9). The checkpoint is gh-ost v1.1.10's `_<table>_ghk` table
// (go/logic/applier.go CreateCheckpointTable), its last row not a post-cut-over one.

// resumePoint describes the checkpoint an interrupted migration of schema.table would resume
// from ("" when there is none: no ghost table, no checkpoint, or the last one is after a
// cut-over).
func (s *Store) resumePoint(ctx context.Context, schema, table string) (string, error) {
	for _, t := range []string{"_" + table + "_gho", "_" + table + "_ghk"} {
		ok, err := s.tableExists(ctx, schema, t)
		if err != nil || !ok {
			return "", err
		}
	}
	var id, rows, ts int64
	var cutover bool
	err := s.db.QueryRowContext(ctx, "SELECT gh_ost_chk_id, gh_ost_rows_copied, gh_ost_chk_timestamp, gh_ost_is_cutover FROM "+
		qualify(schema, "_"+table+"_ghk")+" ORDER BY gh_ost_chk_id DESC LIMIT 1").Scan(&id, &rows, &ts, &cutover)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("store: read the checkpoint of %s: %w", qualify(schema, table), err)
	case cutover:
		return "", nil
	}
	return fmt.Sprintf("checkpoint %d, %d rows copied, %s", id, rows, time.Unix(ts, 0).UTC().Format(time.RFC3339)), nil
}

// markResumable notes on the leftovers of each interrupted gh-ost migration (the migration and
// its ghost and changelog tables) the checkpoint it can resume from.
func (s *Store) markResumable(ctx context.Context, out []Leftover) error {
	points := map[string]string{}
	for _, l := range out {
		if l.Kind != LeftoverStaleMigration || l.Strategy != "ghost" {
			continue
		}
		p, err := s.resumePoint(ctx, l.Schema, l.Table)
		if err != nil {
			return err
		}
		if p != "" {
			points[l.MigrationID] = p
		}
	}
	for i, l := range out {
		p := points[l.MigrationID]
		if p == "" || (l.Kind == LeftoverOrphanTable && l.OrphanTable != "_"+l.Table+"_gho" && l.OrphanTable != "_"+l.Table+"_ghc") {
			continue
		}
		out[i].Resumable = p
		out[i].Reason += fmt.Sprintf("; resumable from its %s (migrate serve resumes it on start, migrate run --resume too): cleaning it up means copying from zero", p)
	}
	return nil
}
