package ghost

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// row is the writer's model of one row of the load table.
type row struct {
	ID int64
	A  int64
	B  string
}

// modelWriter inserts, updates and deletes rows of `t (id, a, b)` on the primary for as long as it
// runs, keeping its own model of what the table must contain. Every statement autocommits; any
// error is a failure (gh-ost's atomic cut-over only blocks writers briefly, it must not fail them).
type modelWriter struct {
	db     *sql.DB
	table  string
	nextID int64
	model  map[int64]row
	ids    []int64 // ids in the model, for picking a random row
	errs   []error
	ops    int
}

func newModelWriter(db *sql.DB, table string, seeded int) *modelWriter {
	w := &modelWriter{db: db, table: table, nextID: int64(seeded) + 1, model: map[int64]row{}}
	for id := int64(1); id <= int64(seeded); id++ {
		w.put(row{ID: id, A: id, B: fmt.Sprintf("seed-%d", id)})
	}
	return w
}

func (w *modelWriter) put(r row) {
	if _, ok := w.model[r.ID]; !ok {
		w.ids = append(w.ids, r.ID)
	}
	w.model[r.ID] = r
}

func (w *modelWriter) remove(i int) {
	id := w.ids[i]
	delete(w.model, id)
	w.ids[i] = w.ids[len(w.ids)-1]
	w.ids = w.ids[:len(w.ids)-1]
}

// run writes until ctx ends, with a short pause between statements (a steady ~300 ops/s
// foreground load rather than a flood that would only make the replica lag).
func (w *modelWriter) run(ctx context.Context) {
	rng := rand.New(rand.NewPCG(1, 2))
	q := quoteIdent(w.table)
	for ctx.Err() == nil {
		var err error
		switch op := rng.IntN(10); {
		case op < 4 || len(w.ids) == 0:
			r := row{ID: w.nextID, A: rng.Int64N(1 << 40), B: fmt.Sprintf("ins-%d", rng.IntN(1e6))}
			w.nextID++
			if _, err = w.db.Exec("INSERT INTO "+q+" (id, a, b) VALUES (?, ?, ?)", r.ID, r.A, r.B); err == nil {
				w.put(r)
			}
		case op < 8:
			r := w.model[w.ids[rng.IntN(len(w.ids))]]
			r.A, r.B = rng.Int64N(1<<40), fmt.Sprintf("upd-%d", rng.IntN(1e6))
			if _, err = w.db.Exec("UPDATE "+q+" SET a = ?, b = ? WHERE id = ?", r.A, r.B, r.ID); err == nil {
				w.put(r)
			}
		default:
			i := rng.IntN(len(w.ids))
			if _, err = w.db.Exec("DELETE FROM "+q+" WHERE id = ?", w.ids[i]); err == nil {
				w.remove(i)
			}
		}
		w.ops++
		if err != nil {
			w.errs = append(w.errs, err)
		}
		time.Sleep(3 * time.Millisecond)
	}
}

// startWriter runs the writer in the background; the returned stop ends it and waits for it.
func startWriter(w *modelWriter) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.run(ctx) }()
	return func() { cancel(); wg.Wait() }
}

// requireModel compares every row of table on db with the model: none missing, extra or wrong.
func requireModel(t *testing.T, where string, db *sql.DB, table string, model map[int64]row) {
	t.Helper()
	rows, err := db.Query("SELECT id, a, b FROM " + quoteIdent(table) + " ORDER BY id")
	require.NoError(t, err)
	defer rows.Close()
	seen := map[int64]bool{}
	var wrong, extra []int64
	for rows.Next() {
		var r row
		require.NoError(t, rows.Scan(&r.ID, &r.A, &r.B))
		seen[r.ID] = true
		want, ok := model[r.ID]
		switch {
		case !ok:
			extra = append(extra, r.ID)
		case want != r:
			wrong = append(wrong, r.ID)
		}
	}
	require.NoError(t, rows.Err())
	var missing []int64
	for id := range model {
		if !seen[id] {
			missing = append(missing, id)
		}
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i] < missing[j] })
	require.Empty(t, missing, "%s: rows missing", where)
	require.Empty(t, extra, "%s: extra rows", where)
	require.Empty(t, wrong, "%s: wrong rows", where)
}
