package loadgen

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// untracked runs op as one autocommit statement on a key drawn from 1..KeyRange, the shape of an
// application's point reads and writes, for measuring latency. Nothing is modelled.
func (wk *worker) untracked(ctx context.Context, op Op) error {
	spec := wk.w.cfg.Spec
	switch op {
	case OpInsert:
		key := spec.KeyOf(wk.seq)
		wk.seq += int64(wk.w.cfg.Workers)
		if _, err := wk.w.db.ExecContext(ctx, wk.insertSQL(), append(key, wk.values()...)...); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		return nil
	case OpUpdate:
		c := spec.Columns[wk.rng.IntN(len(spec.Columns))]
		q := "UPDATE " + Quote(spec.Table) + " SET " + Quote(c.Name) + " = ? WHERE " + spec.keyWhere()
		if _, err := wk.w.db.ExecContext(ctx, q, append([]any{c.Gen(wk.rng)}, wk.anyKey()...)...); err != nil {
			return fmt.Errorf("update: %w", err)
		}
		return nil
	case OpDelete:
		q := "DELETE FROM " + Quote(spec.Table) + " WHERE " + spec.keyWhere()
		if _, err := wk.w.db.ExecContext(ctx, q, wk.anyKey()...); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		return nil
	default:
		_, err := wk.readBack(ctx, wk.w.db, wk.anyKey(), "")
		if err != nil && !errors.Is(err, errNoRow) {
			return fmt.Errorf("read: %w", err)
		}
		return nil
	}
}

// anyKey is the key of a random sequence number in 1..KeyRange.
func (wk *worker) anyKey() []any {
	return wk.w.cfg.Spec.KeyOf(1 + wk.rng.Int64N(wk.w.cfg.KeyRange))
}

// Create creates spec's table (dropping nothing: it fails if the table exists).
func Create(ctx context.Context, db *sql.DB, spec Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, spec.CreateSQL()); err != nil {
		return fmt.Errorf("loadgen: create %s: %w", spec.Table, err)
	}
	return nil
}

// seedChunk is how many rows one seeding statement inserts: small enough that the replica
// applies each transaction quickly, large enough that the statement overhead is negligible.
const seedChunk = 100_000

// Seed inserts rows with sequence numbers 1..rows using MariaDB's SEQUENCE engine
// (seq_1_to_N is a virtual table, no setup needed) and the spec's Seed expressions, in chunks,
// then runs ANALYZE TABLE so that row estimates are right. A key column without a Seed
// expression, or a column whose Seed is empty, gets its default. One million narrow rows take a
// few seconds.
func Seed(ctx context.Context, db *sql.DB, spec Spec, rows int64) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	var names, exprs []string
	for _, k := range spec.Key {
		if k.Seed == "" {
			return fmt.Errorf("%w: key column %s has no Seed expression", ErrInvalidSpec, k.Name)
		}
		names, exprs = append(names, Quote(k.Name)), append(exprs, k.Seed)
	}
	for _, c := range spec.Columns {
		if c.Seed != "" {
			names, exprs = append(names, Quote(c.Name)), append(exprs, c.Seed)
		}
	}
	for lo := int64(1); lo <= rows; lo += seedChunk {
		hi := min(lo+seedChunk-1, rows)
		// The SEQUENCE engine names its tables by their bounds; lo and hi are integers we computed.
		q := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM seq_%d_to_%d", Quote(spec.Table),
			strings.Join(names, ", "), strings.Join(exprs, ", "), lo, hi)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("loadgen: seed %s rows %d..%d: %w", spec.Table, lo, hi, err)
		}
	}
	return Analyze(ctx, db, spec.Table)
}

// Analyze refreshes the table's statistics: right after a bulk load InnoDB's row estimate can
// be far off, and gh-ost's progress is computed from it.
func Analyze(ctx context.Context, db *sql.DB, table string) error {
	rows, err := db.QueryContext(ctx, "ANALYZE TABLE "+Quote(table))
	if err != nil {
		return fmt.Errorf("loadgen: analyze %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("loadgen: analyze %s: %w", table, err)
	}
	return nil
}
