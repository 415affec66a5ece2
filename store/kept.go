package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// keptLeftover describes the old table gh-ost kept after a cut-over (a _del table whose original
// exists): when it was set aside and by which completed migration, as far as the store can tell.
// gh-ost names it _<t>_<StartTime>_del (TimestampOldTable, in the worker's local time; gh-ost
// v1.1.6 go/base/context.go GetOldTableName), so the time in the name is the migration's start.
func (s *Store) keptLeftover(ctx context.Context, f found) (Leftover, error) {
	l := Leftover{Kind: LeftoverKeptTable, Schema: f.schema, Table: f.orig, OrphanTable: f.name,
		Rows: f.rows, Bytes: f.bytes, SQL: "DROP TABLE " + qualify(f.schema, f.name),
		Command: CleanupCommand + " --schema " + shellQuote(f.schema) + " --table " + shellQuote(f.name)}
	var started time.Time
	if m := keptStamp.FindStringSubmatch(f.name); m != nil {
		if t, err := time.ParseInLocation("20060102150405", m[1], time.Local); err == nil {
			started = t
		}
	}
	id, finished, err := s.keptBy(ctx, f.schema, f.orig, started)
	if err != nil {
		return l, err
	}
	l.MigrationID = id
	switch {
	case !finished.IsZero():
		l.KeptSince = finished
	case !started.IsZero():
		l.KeptSince = started
	}
	of := "a cut-over"
	if id != "" {
		of = "the cut-over of migration " + id
	}
	l.Reason = fmt.Sprintf("old table of %s kept after %s", qualify(f.schema, f.orig), of)
	return l, nil
}

// keptBy finds the completed migration that set the old table aside: the one that started within
// a minute of started when the name carries a time, otherwise the table's latest completed one.
// It returns "" when the store has none (the migration ran elsewhere, or before this store).
func (s *Store) keptBy(ctx context.Context, schema, table string, started time.Time) (string, time.Time, error) {
	q := "SELECT id, finished_at FROM " + s.migrations +
		" WHERE schema_name = ? AND table_name = ? AND status = 'complete' AND strategy = 'ghost'"
	args := []any{schema, table}
	order := " ORDER BY finished_at DESC"
	if !started.IsZero() {
		// started_at is UTC in the store (UTC_TIMESTAMP); gh-ost's time is its local time. The
		// closest start wins: two migrations of one table can start seconds apart.
		q += " AND started_at BETWEEN ? - INTERVAL 1 MINUTE AND ? + INTERVAL 1 MINUTE"
		order = " ORDER BY ABS(TIMESTAMPDIFF(MICROSECOND, started_at, ?))"
		u := started.UTC().Format("2006-01-02 15:04:05")
		args = append(args, u, u, u)
	}
	var id string
	var finished utcTime
	err := s.db.QueryRowContext(ctx, q+order+" LIMIT 1", args...).Scan(&id, &finished)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", time.Time{}, nil
	case err != nil:
		return "", time.Time{}, fmt.Errorf("store: which migration kept an old table of %s: %w", qualify(schema, table), err)
	}
	return id, finished.Time, nil
}
