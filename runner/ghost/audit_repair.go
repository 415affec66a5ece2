package ghost

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// repairDSNParams make the repair session read and write TIMESTAMPs in UTC, the zone the binlog
// values were formatted in (readLostRows), so that no DST fold can shift a value.
const repairDSNParams = "&time_zone=%27%2B00%3A00%27"

// sameColumn pairs a column of the original table (by binlog position) with the new table's
// column of the same name.
type sameColumn struct {
	pos       int
	old, next column
}

// repairPlan is how lost rows of the original table are replayed on the new table: over the
// columns both have (dropped columns are gone, added ones keep their defaults), located by the
// original table's key.
type repairPlan struct {
	schema, table string
	nOld          int
	common        []sameColumn
	key           []sameColumn
	keyMissing    string // a key column the new table lacks: nothing can be located
}

func newRepairPlan(schema, table string, m auditMark, newCols []column) *repairPlan {
	p := &repairPlan{schema: schema, table: table, nOld: len(m.cols)}
	byName := map[string]column{}
	for _, c := range newCols {
		byName[c.name] = c
	}
	oldPos := map[string]int{}
	for i, oc := range m.cols {
		oldPos[oc.name] = i
		nc, ok := byName[oc.name]
		if ok && !oc.generated && !nc.generated {
			p.common = append(p.common, sameColumn{pos: i, old: oc, next: nc})
		}
	}
	for _, k := range m.key {
		nc, ok := byName[k]
		i, known := oldPos[k]
		if !ok || !known {
			p.keyMissing = k
			continue
		}
		p.key = append(p.key, sameColumn{pos: i, old: m.cols[i], next: nc})
	}
	return p
}

// openRepairDB opens the repair's own pool on the primary, with the session time zone UTC.
func openRepairDB(t auditTarget) (*sql.DB, error) {
	db, err := sql.Open("mysql", t.primary.dsn(t.schema)+repairDSNParams)
	if err != nil {
		return nil, fmt.Errorf("open primary for the repair: %w", err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// repairLostRows replays each lost row on the new table in its own transaction, in binlog order.
func repairLostRows(ctx context.Context, t auditTarget, m auditMark, lost []lostRow) ([]LostWrite, error) {
	db, err := openRepairDB(t)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	newCols, err := tableColumns(ctx, db, t.schema, t.table)
	if err != nil {
		return nil, err
	}
	plan := newRepairPlan(t.schema, t.table, m, newCols)
	out := make([]LostWrite, 0, len(lost))
	for _, r := range lost {
		lw := LostWrite{Schema: t.schema, Table: t.table, Op: r.op, Binlog: r.binlog, Key: plan.keyOf(r)}
		outcome, err := plan.repair(ctx, db, r)
		lw.Outcome = outcome
		if err != nil {
			lw.Outcome, lw.Reason = OutcomeConflict, err.Error()
		}
		out = append(out, lw)
	}
	return out, nil
}

// keyOf renders the row's key for people.
func (p *repairPlan) keyOf(r lostRow) []KeyValue {
	img := r.before
	if r.op == OpInsert {
		img = r.after
	}
	out := make([]KeyValue, 0, len(p.key))
	for _, k := range p.key {
		kv := KeyValue{Column: k.old.name, Value: "?"}
		if k.pos < len(img) {
			if v, err := decodeValue(k.old, img[k.pos]); err == nil {
				kv.Value = v.display()
			} else {
				kv.Value = fmt.Sprint(img[k.pos])
			}
		}
		out = append(out, kv)
	}
	return out
}

// image is one row image bound to the common columns.
type image struct {
	vals []value // parallel to plan.common
	key  []value // parallel to plan.key
}

func (p *repairPlan) bind(row []any) (*image, error) {
	if row == nil {
		return nil, nil
	}
	if len(row) != p.nOld {
		return nil, fmt.Errorf("the binlog row has %d columns, the original table had %d", len(row), p.nOld)
	}
	img := &image{}
	for _, c := range p.common {
		v, err := decodeValue(c.old, row[c.pos])
		if err != nil {
			return nil, err
		}
		img.vals = append(img.vals, v.forColumn(c.next))
	}
	for _, c := range p.key {
		v, err := decodeValue(c.old, row[c.pos])
		if err != nil {
			return nil, err
		}
		img.key = append(img.key, v.forColumn(c.next))
	}
	return img, nil
}

// repair replays one row compare-and-set. A returned error is the conflict's reason.
func (p *repairPlan) repair(ctx context.Context, db *sql.DB, r lostRow) (RepairOutcome, error) {
	switch {
	case r.problem != "":
		return OutcomeConflict, errors.New(r.problem)
	case p.keyMissing != "":
		return OutcomeConflict, fmt.Errorf("key column %s does not exist in the new table", p.keyMissing)
	}
	before, err := p.bind(r.before)
	if err != nil {
		return OutcomeConflict, err
	}
	after, err := p.bind(r.after)
	if err != nil {
		return OutcomeConflict, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return OutcomeConflict, fmt.Errorf("repair failed: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var outcome RepairOutcome
	switch r.op {
	case OpInsert:
		outcome, err = p.replayInsert(ctx, tx, after)
	case OpUpdate:
		outcome, err = p.replayUpdate(ctx, tx, before, after)
	case OpDelete:
		outcome, err = p.replayDelete(ctx, tx, before)
	default:
		err = fmt.Errorf("unknown operation %q", r.op)
	}
	if err != nil {
		return OutcomeConflict, err
	}
	if err := tx.Commit(); err != nil {
		return OutcomeConflict, fmt.Errorf("repair failed: commit: %w", err)
	}
	return outcome, nil
}

// replayInsert inserts the row unless a row with its key exists (the same row: already applied).
func (p *repairPlan) replayInsert(ctx context.Context, tx *sql.Tx, after *image) (RepairOutcome, error) {
	found, err := p.lookup(ctx, tx, after, after, after)
	if err != nil {
		return "", err
	}
	switch {
	case found.n == 1 && found.matchesAfter:
		return OutcomeAlreadyApplied, nil
	case found.n > 0:
		return "", errors.New("a different row with this key exists in the new table")
	}
	cols := make([]string, len(p.common))
	exprs := make([]string, len(p.common))
	args := make([]any, len(p.common))
	for i, c := range p.common {
		cols[i], exprs[i], args[i] = quoteIdent(c.next.name), after.vals[i].expr(c.next), after.vals[i].arg
	}
	q := "INSERT INTO " + qualified(p.schema, p.table) + " (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(exprs, ", ") + ")"
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return "", fmt.Errorf("repair failed: %w", err)
	}
	return OutcomeRepaired, nil
}

// replayUpdate sets the row to the after image if it still equals the before image.
func (p *repairPlan) replayUpdate(ctx context.Context, tx *sql.Tx, before, after *image) (RepairOutcome, error) {
	found, err := p.lookup(ctx, tx, before, before, after)
	if err != nil {
		return "", err
	}
	switch {
	case found.n > 1:
		return "", errors.New("several rows of the new table match the key")
	case found.n == 1 && found.matchesAfter:
		return OutcomeAlreadyApplied, nil
	case found.n == 0:
		// The key may have been changed by the update itself and applied already.
		if moved, err := p.lookup(ctx, tx, after, after, after); err == nil && moved.n == 1 && moved.matchesAfter {
			return OutcomeAlreadyApplied, nil
		}
		return "", errors.New("the row does not exist in the new table")
	case !found.matchesBefore:
		return "", errors.New("the row in the new table differs from the lost update's before image (changed since)")
	}
	sets := make([]string, len(p.common))
	args := make([]any, 0, len(p.common)+len(p.key))
	for i, c := range p.common {
		sets[i] = quoteIdent(c.next.name) + " = " + after.vals[i].expr(c.next)
		args = append(args, after.vals[i].arg)
	}
	where, wargs := p.where(before)
	q := "UPDATE " + qualified(p.schema, p.table) + " SET " + strings.Join(sets, ", ") + " WHERE " + where
	if _, err := tx.ExecContext(ctx, q, append(args, wargs...)...); err != nil {
		return "", fmt.Errorf("repair failed: %w", err)
	}
	return OutcomeRepaired, nil
}

// replayDelete deletes the row if it still equals the before image; a missing row is already gone.
func (p *repairPlan) replayDelete(ctx context.Context, tx *sql.Tx, before *image) (RepairOutcome, error) {
	found, err := p.lookup(ctx, tx, before, before, before)
	if err != nil {
		return "", err
	}
	switch {
	case found.n == 0:
		return OutcomeAlreadyApplied, nil
	case found.n > 1:
		return "", errors.New("several rows of the new table match the key")
	case !found.matchesBefore:
		return "", errors.New("the row in the new table differs from the lost delete's before image (changed since)")
	}
	where, args := p.where(before)
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+qualified(p.schema, p.table)+" WHERE "+where, args...); err != nil {
		return "", fmt.Errorf("repair failed: %w", err)
	}
	return OutcomeRepaired, nil
}

// lookupResult: how many rows have the key, and whether the (first) one equals each image.
type lookupResult struct {
	n                           int
	matchesBefore, matchesAfter bool
}

// lookup locks the new table's rows with keyImg's key (FOR UPDATE, so nothing changes them before
// the repair commits) and has the server compare them with a and b on every common column.
func (p *repairPlan) lookup(ctx context.Context, tx *sql.Tx, keyImg, a, b *image) (lookupResult, error) {
	ma, aargs := p.matches(a)
	mb, bargs := p.matches(b)
	where, wargs := p.where(keyImg)
	q := "SELECT " + ma + ", " + mb + " FROM " + qualified(p.schema, p.table) + " WHERE " + where + " LIMIT 2 FOR UPDATE"
	rows, err := tx.QueryContext(ctx, q, append(append(aargs, bargs...), wargs...)...)
	if err != nil {
		return lookupResult{}, fmt.Errorf("repair failed: look up the row: %w", err)
	}
	defer rows.Close()
	var res lookupResult
	for rows.Next() {
		var x, y sql.NullBool
		if err := rows.Scan(&x, &y); err != nil {
			return lookupResult{}, fmt.Errorf("repair failed: look up the row: %w", err)
		}
		if res.n == 0 {
			res.matchesBefore, res.matchesAfter = x.Bool, y.Bool
		}
		res.n++
	}
	if err := rows.Err(); err != nil {
		return lookupResult{}, fmt.Errorf("repair failed: look up the row: %w", err)
	}
	return res, nil
}

// where locates the row by its key with plain equality in the column's own collation, so the
// server uses the key's index; exactness is checked by matches.
func (p *repairPlan) where(img *image) (string, []any) {
	conds := make([]string, len(p.key))
	args := make([]any, len(p.key))
	for i, k := range p.key {
		conds[i] = quoteIdent(k.next.name) + " = " + img.key[i].expr(k.next)
		args[i] = img.key[i].arg
	}
	return strings.Join(conds, " AND "), args
}

// matches is an expression that is 1 when the row equals img on every common column.
func (p *repairPlan) matches(img *image) (string, []any) {
	if len(p.common) == 0 {
		return "1", nil
	}
	conds := make([]string, len(p.common))
	args := make([]any, len(p.common))
	for i, c := range p.common {
		conds[i] = "(" + img.vals[i].equal(c.next) + ")"
		args[i] = img.vals[i].arg
	}
	return "(" + strings.Join(conds, " AND ") + ")", args
}
