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

// repairLostRows brings every row the lost writes touched to its final state on the new table.
// later are the new table's own writes after the rename. The writes to one row are taken
// together, in binlog order, from the state before the first lost write (what gh-ost had applied)
// to the state after the last; comparing each step instead would call a row a conflict that a
// later write had simply deleted. A row the application wrote again on the new table is:
//   - already applied when it holds the lost writes' final state;
//   - superseded when a later write deleted it: after a delete the row's history does not matter;
//   - otherwise a conflict: the later write was computed from a row without the lost write (an
//     increment, say), and no replay can merge the two. It is named; nothing is overwritten.
//
// keys[i] identifies writes[i]'s row for a later recheck.
func repairLostRows(ctx context.Context, t auditTarget, m auditMark, lost, later []lostRow) (writes []LostWrite, keys []string, err error) {
	db, err := openRepairDB(t)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	newCols, err := tableColumns(ctx, db, t.schema, t.table)
	if err != nil {
		return nil, nil, err
	}
	plan := newRepairPlan(t.schema, t.table, m, newCols)
	writes = make([]LostWrite, len(lost))
	keys = make([]string, len(lost))
	for i, r := range lost {
		writes[i] = LostWrite{Schema: t.schema, Table: t.table, Op: r.op, Binlog: r.binlog, Key: plan.keyOf(r)}
	}
	groups, ok := plan.groupByKey(lost)
	if !ok {
		// An update changed a row's key: the rows cannot be told apart by key, so each write is
		// replayed on its own, as it was written.
		for i, r := range lost {
			writes[i].Outcome, writes[i].Reason = outcomeOf(plan.repair(ctx, db, r))
		}
		return writes, keys, nil
	}
	rewritten := plan.newKeys(newCols, later)
	for _, g := range groups {
		net := g.net(lost)
		var outcome RepairOutcome
		var reason string
		if w, ok := rewritten[g.key]; ok {
			outcome, reason = plan.rewrittenOutcome(ctx, db, net, w)
		} else {
			outcome, reason = outcomeOf(plan.repair(ctx, db, net))
		}
		for _, i := range g.rows {
			writes[i].Outcome, writes[i].Reason, keys[i] = outcome, reason, g.key
		}
	}
	return writes, keys, nil
}

// laterWrite is what the new table's own writes after the rename did to one row.
type laterWrite struct {
	deleted bool   // one of them deleted it
	binlog  string // the first of them
}

// rewrittenOutcome decides a row the application wrote again after the rename (see
// repairLostRows).
func (p *repairPlan) rewrittenOutcome(ctx context.Context, db *sql.DB, net lostRow, w laterWrite) (RepairOutcome, string) {
	if final, err := p.holdsFinal(ctx, db, net); err == nil && final {
		return OutcomeAlreadyApplied, ""
	}
	if w.deleted {
		return OutcomeSuperseded, ""
	}
	return OutcomeConflict, fmt.Sprintf("the row was written again on the new table after the rename (binlog %s) from a state without this lost write; the two cannot be merged, the row is left as the later write made it", w.binlog)
}

// holdsFinal reports whether the new table's row is the lost writes' final state (for a net
// delete: the row is absent).
func (p *repairPlan) holdsFinal(ctx context.Context, db *sql.DB, net lostRow) (bool, error) {
	if net.op == opNone {
		return true, nil
	}
	img := net.after
	if img == nil {
		img = net.before
	}
	bound, err := p.bind(img)
	if err != nil || bound == nil {
		return false, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback() }()
	found, err := p.lookup(ctx, tx, bound, bound, bound)
	if err != nil {
		return false, err
	}
	if net.after == nil {
		return found.n == 0, nil
	}
	return found.n == 1 && found.matchesAfter, nil
}

func outcomeOf(o RepairOutcome, err error) (RepairOutcome, string) {
	if err != nil {
		return OutcomeConflict, err.Error()
	}
	return o, ""
}

// keyGroup is the lost writes to one row, in binlog order (indexes into the lost rows).
type keyGroup struct {
	key  string
	rows []int
}

// net is the group's writes as one: from the first's before image to the last's after image.
func (g keyGroup) net(lost []lostRow) lostRow {
	first, last := lost[g.rows[0]], lost[g.rows[len(g.rows)-1]]
	r := lostRow{before: first.before, after: last.after, binlog: first.binlog}
	for _, i := range g.rows {
		if lost[i].problem != "" {
			r.problem = lost[i].problem
		}
	}
	switch {
	case r.before == nil && r.after == nil:
		r.op = opNone
	case r.before == nil:
		r.op = OpInsert
	case r.after == nil:
		r.op = OpDelete
	default:
		r.op = OpUpdate
	}
	return r
}

// groupByKey groups the lost rows by the row they write, in order of first appearance. ok is
// false when an update changes a key or a key cannot be read.
func (p *repairPlan) groupByKey(lost []lostRow) (groups []keyGroup, ok bool) {
	if p.keyMissing != "" {
		return nil, false
	}
	index := map[string]int{}
	for i, r := range lost {
		var key string
		switch {
		case r.op == OpInsert:
			key, ok = p.oldKey(r.after)
		default:
			key, ok = p.oldKey(r.before)
			if ok && r.op == OpUpdate {
				var after string
				after, ok = p.oldKey(r.after)
				ok = ok && after == key
			}
		}
		if !ok {
			return nil, false
		}
		g, seen := index[key]
		if !seen {
			g = len(groups)
			index[key] = g
			groups = append(groups, keyGroup{key: key})
		}
		groups[g].rows = append(groups[g].rows, i)
	}
	return groups, true
}

// oldKey renders a row image of the original table's layout as its key in the new table's terms.
func (p *repairPlan) oldKey(img []any) (string, bool) {
	if len(img) != p.nOld {
		return "", false
	}
	parts := make([]string, len(p.key))
	for i, k := range p.key {
		v, err := decodeValue(k.old, img[k.pos])
		if err != nil {
			return "", false
		}
		parts[i] = v.forColumn(k.next).display()
	}
	return strings.Join(parts, "\x00"), true
}

// newKeys is what rows of the new table's layout did to each key they carry (both images): whether
// one deleted it, and the first one's binlog position.
func (p *repairPlan) newKeys(newCols []column, rows []lostRow) map[string]laterWrite {
	pos := map[string]int{}
	for i, c := range newCols {
		pos[c.name] = i
	}
	out := map[string]laterWrite{}
	for _, r := range rows {
		for _, img := range [][]any{r.before, r.after} {
			if img == nil || len(img) != len(newCols) {
				continue
			}
			parts := make([]string, len(p.key))
			good := true
			for i, k := range p.key {
				v, err := decodeValue(k.next, img[pos[k.next.name]])
				if err != nil {
					good = false
					break
				}
				parts[i] = v.display()
			}
			if !good {
				continue
			}
			key := strings.Join(parts, "\x00")
			w, seen := out[key]
			if !seen {
				w.binlog = r.binlog
			}
			w.deleted = w.deleted || r.op == OpDelete
			out[key] = w
		}
	}
	return out
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
	case r.op == opNone:
		// Inserted and deleted again on the old table: the row never was, nor is, anywhere.
		return OutcomeAlreadyApplied, nil
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
