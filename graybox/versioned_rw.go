package graybox

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"
)

// Insert writes v as a new row in the current shape.
func (t *Table[T]) Insert(ctx context.Context, db Execer, v *T) error {
	return t.write(ctx, db, v, t.insertSQL)
}

// Update writes every mapped column of v to the row with v's key, in the current shape.
func (t *Table[T]) Update(ctx context.Context, db Execer, v *T) error {
	return t.write(ctx, db, v, t.updateSQL)
}

// write runs the statement build makes for the current shape; a dual write the server refuses
// for an unknown column (before the rename) is retried in the old shape. Inside a transaction
// the retry is safe: MySQL and MariaDB roll back only the failed statement, not the transaction.
func (t *Table[T]) write(ctx context.Context, db Execer, v *T, build func([]column, reflect.Value) (string, []any)) error {
	rv := reflect.ValueOf(v).Elem()
	shape := t.Shape()
	q, args := build(t.columns(shape), rv)
	_, err := db.ExecContext(ctx, q, args...)
	if err != nil && shape == ShapeDual && t.cfg.IsUnknownColumn(err) {
		q, args = build(t.columns(ShapeOld), rv)
		_, err = db.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return fmt.Errorf("graybox: write %s: %w", t.name, err)
	}
	return nil
}

func (t *Table[T]) insertSQL(cols []column, rv reflect.Value) (string, []any) {
	names := make([]string, len(cols))
	args := make([]any, len(cols))
	for i, c := range cols {
		names[i] = quote(c.name)
		args[i] = rv.FieldByIndex(t.fields[c.field].index).Interface()
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",")
	return "INSERT INTO " + t.name + " (" + strings.Join(names, ",") + ") VALUES (" + marks + ")", args
}

func (t *Table[T]) updateSQL(cols []column, rv reflect.Value) (string, []any) {
	var sets []string
	var args []any
	for _, c := range cols {
		if c.field == t.key {
			continue
		}
		sets = append(sets, quote(c.name)+" = ?")
		args = append(args, rv.FieldByIndex(t.fields[c.field].index).Interface())
	}
	args = append(args, rv.FieldByIndex(t.fields[t.key].index).Interface())
	return "UPDATE " + t.name + " SET " + strings.Join(sets, ", ") + " WHERE " + quote(t.cfg.Key) + " = ?", args
}

// Get reads the row with key. In the dual shape it prefers the new column of each versioned
// field and falls back to the old one where the new one is NULL (a row not written since the
// rename) or does not exist (before the rename); with a Rollout, keys not yet rolled out read
// the old column. A missing row is an error wrapping sql.ErrNoRows.
func (t *Table[T]) Get(ctx context.Context, db Querier, key any) (T, error) {
	shape := t.Shape()
	if shape == ShapeDual && t.cfg.Rollout != nil && !t.cfg.Rollout.UseNew(fmt.Sprint(key)) {
		shape = ShapeOld
	}
	v, err := t.get(ctx, db, key, shape)
	if err != nil && shape == ShapeDual && t.cfg.IsUnknownColumn(err) {
		v, err = t.get(ctx, db, key, ShapeOld)
	}
	if err != nil {
		return v, fmt.Errorf("graybox: read %s: %w", t.name, err)
	}
	return v, nil
}

func (t *Table[T]) get(ctx context.Context, db Querier, key any, shape Shape) (T, error) {
	var v T
	cols := t.columns(shape)
	names := make([]string, len(cols))
	dest := make([]any, len(cols))
	rv := reflect.ValueOf(&v).Elem()
	for i, c := range cols {
		names[i] = quote(c.name)
		// Scanning into **F leaves it nil for NULL: how "not written in this shape" shows.
		dest[i] = reflect.New(reflect.PointerTo(rv.FieldByIndex(t.fields[c.field].index).Type())).Interface()
	}
	q := "SELECT " + strings.Join(names, ",") + " FROM " + t.name + " WHERE " + quote(t.cfg.Key) + " = ?"
	rows, err := db.QueryContext(ctx, q, key)
	if err != nil {
		return v, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return v, err
		}
		return v, sql.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return v, err
	}
	// Old columns first, then new ones over them where not NULL: columns() lists a field's old
	// column before its new one.
	for i, c := range cols {
		p := reflect.ValueOf(dest[i]).Elem()
		if p.IsNil() {
			continue
		}
		rv.FieldByIndex(t.fields[c.field].index).Set(p.Elem())
	}
	return v, rows.Err()
}
