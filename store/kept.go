package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// keptLeftover describes the old table gh-ost kept after a cut-over (a _del table whose original
// exists): when it was set aside and by which completed migration, as far as the store can tell.
// gh-ost names it _<t>_<StartTime>_del (TimestampOldTable, in the worker's local time; _rev_del
// after a revert; gh-ost v1.1.10 go/base/context.go GetOldTableName), so the time in the name
// is the migration's start. The runner records the name at cut-over (an engine event's
// old_table): that names the migration exactly; the time is the fallback for older records.
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
	id, finished, err := s.keptRecorded(ctx, f.schema, f.name)
	if err == nil && id == "" {
		id, finished, err = s.keptBy(ctx, f.schema, f.orig, started)
	}
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
	if strings.HasSuffix(f.name, "_rev_del") {
		of = strings.Replace(of, "cut-over", "revert", 1)
	}
	l.Reason = fmt.Sprintf("old table of %s kept after %s", qualify(f.schema, f.orig), of)
	return l, nil
}

// keptRecorded finds the migration whose cut-over recorded name as the kept original (the
// runner's engine event, data.old_table), and when it finished; "" when none did.
func (s *Store) keptRecorded(ctx context.Context, schema, name string) (string, time.Time, error) {
	var id string
	var finished utcTime
	err := s.db.QueryRowContext(ctx, "SELECT m.id, m.finished_at FROM "+s.events+" e JOIN "+s.migrations+
		" m ON m.id = e.migration_id WHERE e.kind = ? AND m.schema_name = ? AND JSON_VALUE(e.data, '$.old_table') = ?"+
		" ORDER BY e.id DESC LIMIT 1", string(EventEngine), schema, name).Scan(&id, &finished)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", time.Time{}, nil
	case err != nil:
		return "", time.Time{}, fmt.Errorf("store: which migration kept %s: %w", qualify(schema, name), err)
	}
	return id, finished.Time, nil
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
