package grayboxdb_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/graybox"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// order is the row type of the versioned tests: status moves to status_v2, note is v2 only.
type order struct {
	ID     int64  `gg:"id"`
	Status string `gg:"v1:status,v2:status_v2"`
	Note   string `gg:"v2:note"`
	Cache  string // untagged: not a column
}

// versionedFixture is a participant (no controller needed: phases are applied directly) on a
// sandbox database with the table in its v1 shape.
type versionedFixture struct {
	db   *sandboxtest.DB
	p    *graybox.Participant
	tbl  *graybox.Table[order]
	name string // schema.table
}

func newVersionedFixture(t *testing.T, rollout *graybox.Rollout) *versionedFixture {
	t.Helper()
	db := sandboxtest.New(t)
	db.Exec(t, "CREATE TABLE orders (id BIGINT PRIMARY KEY, status VARCHAR(20) NOT NULL)")
	name := db.Name + ".orders"
	p, err := graybox.New(graybox.Config{
		ControllerURL: "http://127.0.0.1:1", Secret: secret, Service: "orders", InstanceID: "i-1",
		Tables: []string{name}, Versions: map[string]string{name: "v1"}, Mode: wire.ModeSignal,
	}, graybox.Handlers{})
	require.NoError(t, err)
	tbl, err := graybox.NewTable[order](graybox.TableConfig{
		Schema: db.Name, Table: "orders", Key: "id", OldVersion: "v1", NewVersion: "v2", Rollout: rollout,
	}, p)
	require.NoError(t, err)
	return &versionedFixture{db: db, p: p, tbl: tbl, name: name}
}

func (f *versionedFixture) apply(t *testing.T, phase wire.Phase) {
	t.Helper()
	ack := f.p.Apply(context.Background(), wire.PhaseRequest{
		MigrationID: "m1", Schema: f.db.Name, Table: "orders", OldVersion: "v1", NewVersion: "v2",
		Phase: phase, Deadline: time.Now().Add(5 * time.Second), Attempt: 1,
	})
	require.True(t, ack.Ready, ack.Message)
}

// expand is what the rename of gh-ost's ghost table does to the application: the new columns
// appear at once (nullable: NULL marks rows not written since).
func (f *versionedFixture) expand(t *testing.T) {
	f.db.Exec(t, "ALTER TABLE orders ADD COLUMN status_v2 VARCHAR(20) NULL, ADD COLUMN note VARCHAR(50) NULL")
}

// raw reads the stored columns; status_v2 and note are "<null>" when NULL or absent.
func (f *versionedFixture) raw(t *testing.T, id int64) (status, statusV2, note string) {
	t.Helper()
	var s2, n sql.NullString
	err := f.db.Primary.QueryRow("SELECT status, status_v2, note FROM orders WHERE id = ?", id).Scan(&status, &s2, &n)
	if err != nil {
		require.NoError(t, f.db.Primary.QueryRow("SELECT status FROM orders WHERE id = ?", id).Scan(&status))
	}
	return status, orNull(s2), orNull(n)
}

func orNull(s sql.NullString) string {
	if !s.Valid {
		return "<null>"
	}
	return s.String
}

func TestVersionedCommit(t *testing.T) {
	ctx := context.Background()
	f := newVersionedFixture(t, nil)
	db := f.db.Primary

	// Before prepare: old shape only.
	require.Equal(t, graybox.ShapeOld, f.tbl.Shape())
	require.NoError(t, f.tbl.Insert(ctx, db, &order{ID: 1, Status: "new", Note: "ignored", Cache: "x"}))
	got, err := f.tbl.Get(ctx, db, 1)
	require.NoError(t, err)
	require.Equal(t, order{ID: 1, Status: "new"}, got)

	// Prepared, before the rename: dual, but the new columns do not exist yet; writes and
	// reads fall back to the old shape.
	f.apply(t, wire.PhasePrepare)
	require.Equal(t, graybox.ShapeDual, f.tbl.Shape())
	require.NoError(t, f.tbl.Insert(ctx, db, &order{ID: 2, Status: "new", Note: "n2"}))
	got, err = f.tbl.Get(ctx, db, 2)
	require.NoError(t, err)
	require.Equal(t, order{ID: 2, Status: "new"}, got)

	// The rename: the new columns appear. Dual writes now fill both.
	f.expand(t)
	require.NoError(t, f.tbl.Update(ctx, db, &order{ID: 2, Status: "paid", Note: "n2"}))
	require.NoError(t, f.tbl.Insert(ctx, db, &order{ID: 3, Status: "new", Note: "n3"}))
	s, s2, n := f.raw(t, 2)
	require.Equal(t, []string{"paid", "paid", "n2"}, []string{s, s2, n})
	s, s2, n = f.raw(t, 3)
	require.Equal(t, []string{"new", "new", "n3"}, []string{s, s2, n})

	// A row not written since the rename falls back to the old column.
	got, err = f.tbl.Get(ctx, db, 1)
	require.NoError(t, err)
	require.Equal(t, order{ID: 1, Status: "new"}, got)

	// Where both are set, the new column wins.
	f.db.Exec(t, "UPDATE orders SET status_v2 = 'shipped' WHERE id = 3")
	got, err = f.tbl.Get(ctx, db, 3)
	require.NoError(t, err)
	require.Equal(t, order{ID: 3, Status: "shipped", Note: "n3"}, got)

	// Committed: still dual (see Table's doc), on the new version.
	f.apply(t, wire.PhaseCommit)
	require.Equal(t, "v2", f.p.Version(f.name))
	require.Equal(t, graybox.ShapeDual, f.tbl.Shape())
	require.NoError(t, f.tbl.Insert(ctx, db, &order{ID: 4, Status: "new", Note: "n4"}))
	s, s2, n = f.raw(t, 4)
	require.Equal(t, []string{"new", "new", "n4"}, []string{s, s2, n})

	_, err = f.tbl.Get(ctx, db, 99)
	require.ErrorIs(t, err, sql.ErrNoRows)
}

func TestVersionedAbort(t *testing.T) {
	ctx := context.Background()
	f := newVersionedFixture(t, nil)
	db := f.db.Primary
	f.apply(t, wire.PhasePrepare)
	f.apply(t, wire.PhaseAbort)
	require.Equal(t, graybox.ShapeOld, f.tbl.Shape())
	require.Equal(t, "v1", f.p.Version(f.name))

	// Even where the columns exist (say an earlier expand), the old shape writes only the old ones.
	f.expand(t)
	require.NoError(t, f.tbl.Insert(ctx, db, &order{ID: 1, Status: "new", Note: "n1"}))
	s, s2, n := f.raw(t, 1)
	require.Equal(t, []string{"new", "<null>", "<null>"}, []string{s, s2, n})
	f.db.Exec(t, "UPDATE orders SET status_v2 = 'other' WHERE id = 1")
	got, err := f.tbl.Get(ctx, db, 1)
	require.NoError(t, err)
	require.Equal(t, order{ID: 1, Status: "new"}, got, "old shape reads the old column")
}

// TestVersionedInTransaction: the unknown-column retry works inside a transaction, because
// the server rolls back only the failed statement.
func TestVersionedInTransaction(t *testing.T) {
	ctx := context.Background()
	f := newVersionedFixture(t, nil)
	f.apply(t, wire.PhasePrepare)
	tx, err := f.db.Primary.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, f.tbl.Insert(ctx, tx, &order{ID: 1, Status: "a"}))
	require.NoError(t, f.tbl.Insert(ctx, tx, &order{ID: 2, Status: "b"}))
	require.NoError(t, tx.Commit())
	var n int
	require.NoError(t, f.db.Primary.QueryRow("SELECT COUNT(*) FROM orders").Scan(&n))
	require.Equal(t, 2, n)
}

func TestVersionedRollout(t *testing.T) {
	ctx := context.Background()
	r := graybox.NewRollout("m1")
	f := newVersionedFixture(t, r)
	db := f.db.Primary
	f.apply(t, wire.PhasePrepare)
	f.expand(t)
	f.apply(t, wire.PhaseCommit)
	for id := int64(1); id <= 20; id++ {
		require.NoError(t, f.tbl.Insert(ctx, db, &order{ID: id, Status: "old"}))
	}
	// Make the two columns distinguishable to see which one a read used.
	f.db.Exec(t, "UPDATE orders SET status_v2 = 'new'")
	read := func() (newCount int) {
		for id := int64(1); id <= 20; id++ {
			got, err := f.tbl.Get(ctx, db, id)
			require.NoError(t, err)
			if got.Status == "new" {
				newCount++
			}
			require.Equal(t, r.UseNew(fmt.Sprint(id)), got.Status == "new", "id %d", id)
		}
		return newCount
	}
	require.Zero(t, read(), "0%: every key reads the old column")
	require.NoError(t, r.SetPercent(50))
	half := read()
	require.Greater(t, half, 0)
	require.Less(t, half, 20)
	require.NoError(t, r.SetPercent(100))
	require.Equal(t, 20, read())
}

func TestNewTableErrors(t *testing.T) {
	src := stateSource{}
	type noKey struct {
		Status string `gg:"v1:status,v2:status_v2"`
	}
	type badVersion struct {
		ID     int64  `gg:"id"`
		Status string `gg:"v3:status"`
	}
	type versionedKey struct {
		ID int64 `gg:"v1:id,v2:id2"`
	}
	cfg := graybox.TableConfig{Schema: "s", Table: "t", Key: "id", OldVersion: "v1", NewVersion: "v2"}
	_, err := graybox.NewTable[noKey](cfg, src)
	require.ErrorContains(t, err, "key column")
	_, err = graybox.NewTable[badVersion](cfg, src)
	require.ErrorContains(t, err, `"v3"`)
	_, err = graybox.NewTable[versionedKey](cfg, src)
	require.ErrorContains(t, err, "key column")
	_, err = graybox.NewTable[int](cfg, src)
	require.Error(t, err)
	same := cfg
	same.NewVersion = "v1"
	_, err = graybox.NewTable[order](same, src)
	require.Error(t, err)
	_, err = graybox.NewTable[order](cfg, nil)
	require.Error(t, err)
	_, err = graybox.NewTable[order](cfg, src)
	require.NoError(t, err)
}

// stateSource is a fixed StateSource for the shape rules.
type stateSource map[string]graybox.State

func (s stateSource) State(t string) (graybox.State, bool) { st, ok := s[t]; return st, ok }

func TestShapeRules(t *testing.T) {
	tests := []struct {
		name  string
		state graybox.State
		want  graybox.Shape
	}{
		{"no migration yet", graybox.State{Version: "v1"}, graybox.ShapeOld},
		{"started on v2", graybox.State{Version: "v2"}, graybox.ShapeDual},
		{"prepared", graybox.State{Phase: wire.PhasePrepare, Ready: true, Version: "v1", NewVersion: "v2"}, graybox.ShapeDual},
		{"prepare not ready", graybox.State{Phase: wire.PhasePrepare, Ready: false, Version: "v1", NewVersion: "v2"}, graybox.ShapeOld},
		{"prepared for another version", graybox.State{Phase: wire.PhasePrepare, Ready: true, Version: "v1", NewVersion: "v7"}, graybox.ShapeOld},
		{"committed", graybox.State{Phase: wire.PhaseCommit, Ready: true, Version: "v2", NewVersion: "v2"}, graybox.ShapeDual},
		{"aborted", graybox.State{Phase: wire.PhaseAbort, Ready: true, Version: "v1", NewVersion: "v2"}, graybox.ShapeOld},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, err := graybox.NewTable[order](graybox.TableConfig{Schema: "s", Table: "t", Key: "id", OldVersion: "v1", NewVersion: "v2"},
				stateSource{"s.t": tt.state})
			require.NoError(t, err)
			require.Equal(t, tt.want, tbl.Shape())
		})
	}
}
