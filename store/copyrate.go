package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// CopyRate is the gh-ost copy rate completed migrations reached on this server: what the next
// copy of a similar table will most likely meet here (row width, the server's load and
// throttling included), rather than a constant from somebody else's machine.
type CopyRate struct {
	RowsPerSecond float64 // the median over Samples copies
	Samples       int     // 0: none measured yet
}

// copyRateMinRows keeps tiny copies, whose time is mostly start-up, out of the measurement.
const copyRateMinRows = 1000

// CopyRate is ReadCopyRate on this store's database, for the migrations of cluster ("": every
// migration, as on a controller of one cluster).
func (s *Store) CopyRate(ctx context.Context, cluster string, n int) (CopyRate, error) {
	return readCopyRate(ctx, s.db, s.opts.Database, cluster, n)
}

// ReadCopyRate measures the copy rate from the last n completed gh-ost migrations of the store in
// database: rows copied over the time from their start (running) to their copy's end (ready).
// It only reads, so `migrate plan` can use it; a store that does not exist yet has measured
// nothing (Samples 0, no error).
func ReadCopyRate(ctx context.Context, db *sql.DB, database string, n int) (CopyRate, error) {
	return readCopyRate(ctx, db, database, "", n)
}

func readCopyRate(ctx context.Context, db *sql.DB, database, cluster string, n int) (CopyRate, error) {
	if database == "" {
		database = DefaultDatabase
	}
	if ok, err := tablesExist(ctx, db, database, "migrations", "events"); err != nil || !ok {
		if err != nil {
			err = fmt.Errorf("store: read copy rate: %w", err)
		}
		return CopyRate{}, err
	}
	migrations, events := qualify(database, "migrations"), qualify(database, "events")
	transition := func(to string) string {
		return "(SELECT MIN(e.at) FROM " + events + " e WHERE e.migration_id = m.id AND e.kind = 'transition' AND JSON_VALUE(e.data, '$.to') = '" + to + "')"
	}
	where, args := "", []any{}
	if cluster != "" {
		where, args = " AND m.cluster = ?", append(args, cluster)
	}
	rows, err := db.QueryContext(ctx, "SELECT CAST(JSON_VALUE(m.progress, '$.rows_copied') AS SIGNED), TIMESTAMPDIFF(MICROSECOND, "+
		transition("running")+", "+transition("ready")+") FROM "+migrations+
		" m WHERE m.status = 'complete' AND m.strategy = 'ghost' AND m.progress IS NOT NULL"+where+" ORDER BY m.finished_at DESC LIMIT ?", append(args, n*4)...)
	if err != nil {
		return CopyRate{}, fmt.Errorf("store: read copy rate: %w", err)
	}
	defer rows.Close()
	var rates []float64
	for rows.Next() && len(rates) < n {
		var copied, micros sql.NullInt64
		if err := rows.Scan(&copied, &micros); err != nil {
			return CopyRate{}, fmt.Errorf("store: read copy rate: %w", err)
		}
		if copied.Int64 < copyRateMinRows || micros.Int64 <= 0 {
			continue // a revert (no copy), a tiny table, or a record without both transitions
		}
		rates = append(rates, float64(copied.Int64)/(time.Duration(micros.Int64)*time.Microsecond).Seconds())
	}
	if err := rows.Err(); err != nil {
		return CopyRate{}, fmt.Errorf("store: read copy rate: %w", err)
	}
	if len(rates) == 0 {
		return CopyRate{}, nil
	}
	return CopyRate{RowsPerSecond: median(rates), Samples: len(rates)}, nil
}

// ApplyCapacity is the binlog events per second gh-ost's apply loop applied, on this server,
// while events waited for it: the median over Samples completed migrations.
type ApplyCapacity struct {
	EventsPerSecond float64
	Samples         int
}

// applyCapacityMinSeconds keeps runs whose backlog lasted only a moment out of the measurement.
const applyCapacityMinSeconds = 0.5

// ReadApplyCapacity reads the apply capacity (migration.Progress.ApplyRate) the last n completed
// gh-ost migrations of the store in database measured, among those that saw a backlog for at
// least half a second. Like ReadCopyRate it only reads; no store, or no such run: Samples 0.
func ReadApplyCapacity(ctx context.Context, db *sql.DB, database string, n int) (ApplyCapacity, error) {
	if database == "" {
		database = DefaultDatabase
	}
	if ok, err := tablesExist(ctx, db, database, "migrations"); err != nil || !ok {
		if err != nil {
			err = fmt.Errorf("store: read apply capacity: %w", err)
		}
		return ApplyCapacity{}, err
	}
	rows, err := db.QueryContext(ctx, "SELECT CAST(JSON_VALUE(progress, '$.apply_rate') AS DOUBLE) FROM "+qualify(database, "migrations")+
		" WHERE status = 'complete' AND strategy = 'ghost' AND CAST(JSON_VALUE(progress, '$.apply_rate_seconds') AS DOUBLE) >= ?"+
		" ORDER BY finished_at DESC LIMIT ?", applyCapacityMinSeconds, n)
	if err != nil {
		return ApplyCapacity{}, fmt.Errorf("store: read apply capacity: %w", err)
	}
	defer rows.Close()
	var rates []float64
	for rows.Next() {
		var r sql.NullFloat64
		if err := rows.Scan(&r); err != nil {
			return ApplyCapacity{}, fmt.Errorf("store: read apply capacity: %w", err)
		}
		if r.Float64 > 0 {
			rates = append(rates, r.Float64)
		}
	}
	if err := rows.Err(); err != nil {
		return ApplyCapacity{}, fmt.Errorf("store: read apply capacity: %w", err)
	}
	if len(rates) == 0 {
		return ApplyCapacity{}, nil
	}
	return ApplyCapacity{EventsPerSecond: median(rates), Samples: len(rates)}, nil
}

// tablesExist says whether every one of the store's tables names exists in database: a store
// that was never opened there has measured nothing, which is no error for a reader that only
// reads (plan).
func tablesExist(ctx context.Context, db *sql.DB, database string, names ...string) (bool, error) {
	args := []any{database}
	marks := make([]string, len(names))
	for i, n := range names {
		args, marks[i] = append(args, n), "?"
	}
	var n int
	err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN ("+
		strings.Join(marks, ", ")+")", args...).Scan(&n)
	return n == len(names), err
}

// median of rates (not empty), which it sorts: the upper one of the middle two for an even count.
func median(rates []float64) float64 {
	slices.Sort(rates)
	return rates[len(rates)/2]
}
