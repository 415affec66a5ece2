package loadgen

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/ghostgate/ghostgate/internal/measure"
	"strings"
	"time"
)

// errNoRow is a read-back that found no row.
var errNoRow = errors.New("no row")

// tracked runs op as one transaction that reads the row back before COMMIT, so the model holds
// the server's canonical form of what was written. Any error before COMMIT leaves the model
// unchanged: the transaction was rolled back, explicitly or by the server when the connection
// dropped. An error from COMMIT itself is an unknown outcome and is settled by a locking re-read.
func (wk *worker) tracked(ctx context.Context, op Op) error {
	switch op {
	case OpInsert:
		return wk.insert(ctx)
	case OpRead:
		return wk.read(ctx)
	}
	key := wk.randomKey()
	want, _ := wk.model.Get(key...)
	tx, err := wk.w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	var got Row
	if op == OpUpdate {
		got, err = wk.update(ctx, tx, key, want)
	} else {
		err = wk.delete(ctx, tx, key, want)
	}
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		wk.pending[encodeKey(key)] = stringsToArgs(key)
		wk.settle(ctx)
		return fmt.Errorf("commit %s: %w", op, err)
	}
	if op == OpUpdate {
		wk.own(got)
	} else {
		wk.disown(key)
	}
	return nil
}

// errAnomaly marks an operation abandoned because the row contradicted the model.
var errAnomaly = errors.New("row differs from the model")

func (wk *worker) insert(ctx context.Context) error {
	spec := wk.w.cfg.Spec
	n := wk.seq
	wk.seq += int64(wk.w.cfg.Workers)
	key := spec.KeyOf(n)
	tx, err := wk.w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if _, err := tx.ExecContext(ctx, wk.insertSQL(), append(key, wk.values()...)...); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("insert: %w", err)
	}
	got, err := wk.readBack(ctx, tx, key, "")
	if err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("insert read-back: %w", err)
	}
	if err := tx.Commit(); err != nil {
		wk.pending[encodeKey(argsToStrings(key))] = key
		wk.settle(ctx)
		return fmt.Errorf("commit insert: %w", err)
	}
	wk.own(got)
	return nil
}

// update sets a random non-empty subset of the columns. Columns it did not set keep the model's
// values (not the read-back's) so that a change made behind the writer's back stays visible to
// Verify; it is also reported as an anomaly.
func (wk *worker) update(ctx context.Context, tx *sql.Tx, key []string, want Row) (Row, error) {
	spec := wk.w.cfg.Spec
	cols := wk.rng.Perm(len(spec.Columns))[:1+wk.rng.IntN(len(spec.Columns))]
	sets := make([]string, len(cols))
	args := make([]any, 0, len(cols)+len(key))
	for i, c := range cols {
		sets[i] = Quote(spec.Columns[c].Name) + " = ?"
		args = append(args, spec.Columns[c].Gen(wk.rng))
	}
	q := "UPDATE " + Quote(spec.Table) + " SET " + strings.Join(sets, ", ") + " WHERE " + spec.keyWhere()
	if _, err := tx.ExecContext(ctx, q, append(args, stringsToArgs(key)...)...); err != nil {
		return Row{}, fmt.Errorf("update: %w", err)
	}
	got, err := wk.readBack(ctx, tx, stringsToArgs(key), "")
	if errors.Is(err, errNoRow) {
		wk.anomaly(OpUpdate, key, "row missing")
		return Row{}, errAnomaly
	}
	if err != nil {
		return Row{}, fmt.Errorf("update read-back: %w", err)
	}
	set := map[int]bool{}
	for _, c := range cols {
		set[len(spec.Key)+c] = true
	}
	next := Row{Vals: append([]sql.NullString(nil), want.Vals...)}
	for i := len(spec.Key); i < len(got.Vals); i++ {
		if set[i] {
			next.Vals[i] = got.Vals[i]
		} else if got.Vals[i] != want.Vals[i] {
			wk.anomaly(OpUpdate, key, fmt.Sprintf("column %s was %s, model has %s",
				wk.model.names[i], show(got.Vals[i]), show(want.Vals[i])))
		}
	}
	return next, nil
}

// delete locks and checks the row against the model first, then deletes it.
func (wk *worker) delete(ctx context.Context, tx *sql.Tx, key []string, want Row) error {
	spec := wk.w.cfg.Spec
	got, err := wk.readBack(ctx, tx, stringsToArgs(key), " FOR UPDATE")
	if errors.Is(err, errNoRow) {
		wk.anomaly(OpDelete, key, "row missing")
		return errAnomaly
	}
	if err != nil {
		return fmt.Errorf("delete read: %w", err)
	}
	if cols := compareRow(wk.model.names, len(spec.Key), want, got); len(cols) > 0 {
		wk.anomaly(OpDelete, key, fmt.Sprintf("column %s was %s, model has %s",
			cols[0].Column, show(cols[0].Got), show(cols[0].Want)))
		return errAnomaly
	}
	q := "DELETE FROM " + Quote(spec.Table) + " WHERE " + spec.keyWhere()
	if _, err := tx.ExecContext(ctx, q, stringsToArgs(key)...); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}

// read compares one owned row with the model.
func (wk *worker) read(ctx context.Context) error {
	key := wk.randomKey()
	want, _ := wk.model.Get(key...)
	got, err := wk.readBack(ctx, wk.w.db, stringsToArgs(key), "")
	if errors.Is(err, errNoRow) {
		wk.anomaly(OpRead, key, "row missing")
		return nil
	}
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if cols := compareRow(wk.model.names, len(key), want, got); len(cols) > 0 {
		wk.anomaly(OpRead, key, fmt.Sprintf("column %s was %s, model has %s",
			cols[0].Column, show(cols[0].Got), show(cols[0].Want)))
	}
	return nil
}

func (wk *worker) anomaly(op Op, key []string, reason string) {
	wk.anomalies = append(wk.anomalies, Anomaly{Op: op, Key: key, Reason: reason})
}

// querier is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// readBack reads the row with the given key in canonical form; suffix may add a locking clause.
func (wk *worker) readBack(ctx context.Context, q querier, key []any, suffix string) (Row, error) {
	spec := wk.w.cfg.Spec
	query := "SELECT " + canonicalList(wk.model.names, wk.w.types) + " FROM " + Quote(spec.Table) +
		" WHERE " + spec.keyWhere() + suffix
	r, err := scanRow(q.QueryRowContext(ctx, query, key...), len(wk.model.names))
	if errors.Is(err, sql.ErrNoRows) {
		return Row{}, errNoRow
	}
	return r, err
}

func (wk *worker) insertSQL() string {
	names := wk.model.names
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = Quote(n)
	}
	return "INSERT INTO " + Quote(wk.w.cfg.Spec.Table) + " (" + strings.Join(quoted, ", ") +
		") VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ") + ")"
}

// values generates a value for every non-key column.
func (wk *worker) values() []any {
	cols := wk.w.cfg.Spec.Columns
	vals := make([]any, len(cols))
	for i, c := range cols {
		vals[i] = c.Gen(wk.rng)
	}
	return vals
}

func (wk *worker) randomKey() []string {
	k := wk.keys[wk.rng.IntN(len(wk.keys))]
	r := wk.model.rows[k]
	return r.Key(wk.model.nkey)
}

// settle re-reads every pending row under a shared lock: the lock waits for a transaction that
// may still be committing or rolling back on the server, so what it reads is final. A row that
// cannot be read stays pending for settleAll.
func (wk *worker) settle(ctx context.Context) {
	for k, key := range wk.pending {
		got, err := wk.lockedRead(ctx, key)
		if err != nil && !errors.Is(err, errNoRow) {
			continue
		}
		delete(wk.pending, k)
		wk.rec.reconciled++
		if err == nil {
			wk.own(got)
		} else if _, ok := wk.model.Get(argsToStrings(key)...); ok {
			wk.disown(argsToStrings(key))
		}
	}
}

func (wk *worker) lockedRead(ctx context.Context, key []any) (Row, error) {
	tx, err := wk.w.db.BeginTx(ctx, nil)
	if err != nil {
		return Row{}, err
	}
	defer func() { _ = tx.Rollback() }()
	return wk.readBack(ctx, tx, key, " LOCK IN SHARE MODE")
}

// settleAll retries settle for up to 30 s (the server may be restarting) and returns how many
// rows stay unknown.
func (wk *worker) settleAll() int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(wk.pending) > 0 && ctx.Err() == nil {
		wk.settle(ctx)
		if len(wk.pending) > 0 {
			measure.SleepUntil(ctx, time.Now().Add(200*time.Millisecond))
		}
	}
	return len(wk.pending)
}

func stringsToArgs(s []string) []any {
	a := make([]any, len(s))
	for i, v := range s {
		a[i] = v
	}
	return a
}

func argsToStrings(a []any) []string {
	s := make([]string, len(a))
	for i, v := range a {
		s[i] = fmt.Sprint(v)
	}
	return s
}
