package loadclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/ghostgate/ghostgate/internal/measure"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ghostgate/ghostgate/examples/shop"
)

// worker owns the rows it created; only it touches them, so its part of the model is exact.
type worker struct {
	c     *Client
	rng   *rand.Rand
	model *Model
	rec   *recorder
	owned []int64       // ids certainly present, to pick from
	pos   map[int64]int // id → index in owned
	sent  atomic.Int64  // requests sent, for Progress
	rows  map[int64]Row // current row of each owned id
}

func newWorker(c *Client, seed, id uint64) *worker {
	return &worker{c: c, rng: newRand(seed, id), model: newModel(c.cfg.IDBase), rec: newRecorder(),
		pos: map[int64]int{}, rows: map[int64]Row{}}
}

// loop sends one request per interval from start until ctx ends. A worker that falls behind
// (a stalled request) catches up without bursting: it never sends more than one request at once.
func (w *worker) loop(ctx context.Context, start time.Time, interval time.Duration) {
	next := start
	for {
		if !measure.SleepUntil(ctx, next) {
			return
		}
		// Not ctx: a request in flight when the run stops must still get its answer, or its
		// outcome (and the model) would be unknown.
		w.do(context.WithoutCancel(ctx), w.pick())
		next = next.Add(interval)
		if now := time.Now(); next.Before(now) {
			next = now
		}
	}
}

func (w *worker) pick() Op {
	if len(w.owned) == 0 {
		return OpCreate
	}
	m := w.c.cfg.Mix
	n := w.rng.IntN(m.total())
	switch {
	case n < m.Create:
		return OpCreate
	case n < m.Create+m.Read:
		return OpRead
	case n < m.Create+m.Read+m.Update:
		return OpUpdate
	}
	return OpDelete
}

func (w *worker) do(ctx context.Context, op Op) {
	switch op {
	case OpCreate:
		w.create(ctx)
	case OpRead:
		w.read(ctx)
	case OpUpdate:
		w.update(ctx)
	case OpDelete:
		w.remove(ctx)
	}
}

// answer is a response, or the transport error that stood in for one.
type answer struct {
	code int
	body []byte
	err  error
}

// send makes one request to the next target and records its latency under the kind classify
// gives it.
func (w *worker) send(ctx context.Context, op Op, method, path string, in any, classify func(answer) (Kind, string)) answer {
	target := w.c.target()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in) // plain structs: cannot fail
		body = bytes.NewReader(b)
	}
	began := time.Now()
	a := w.roundTrip(ctx, method, target+path, body)
	kind, msg := classify(a)
	if kind == "" {
		kind, msg = generic(a)
	}
	w.sent.Add(1)
	w.rec.add(op, target, kind, time.Since(began), msg)
	return a
}

func (w *worker) roundTrip(ctx context.Context, method, url string, body io.Reader) answer {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return answer{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := w.c.hc.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return answer{err: err}
	}
	return answer{code: resp.StatusCode, body: out}
}

// generic classifies what an operation did not classify itself.
func generic(a answer) (Kind, string) {
	switch {
	case a.err != nil:
		return KindConn, a.err.Error()
	case a.code >= 500:
		return KindServer, fmt.Sprintf("HTTP %d: %s", a.code, bytes.TrimSpace(a.body))
	}
	return KindUnexpected, fmt.Sprintf("HTTP %d: %s", a.code, bytes.TrimSpace(a.body))
}

// unknown reports whether a write's outcome is unknown: no answer, or a 5xx (the statement may
// have committed before the error).
func (a answer) unknown() bool { return a.err != nil || a.code >= 500 }

func (w *worker) randomRow(id int64) Row {
	return Row{ID: id, CustomerID: 1 + w.rng.Int64N(1000),
		Status: shop.Statuses[w.rng.IntN(len(shop.Statuses))], AmountCents: w.rng.Int64N(10_000_000)}
}

func (w *worker) create(ctx context.Context) {
	id := w.c.ids.Add(1) - 1
	r := w.randomRow(id)
	in := shop.CreateOrder{ID: id, CustomerID: r.CustomerID, Status: r.Status, AmountCents: r.AmountCents}
	a := w.send(ctx, OpCreate, http.MethodPost, "/orders", in, func(a answer) (Kind, string) {
		switch a.code {
		case http.StatusCreated:
			return KindOK, ""
		case http.StatusTooManyRequests:
			return KindShed, ""
		}
		return "", ""
	})
	switch {
	case a.code == http.StatusCreated:
		w.own(r)
	case a.unknown():
		w.model.set(id, State{}, State{Exists: true, Row: r})
	default: // refused: nothing was written
		w.model.set(id, State{})
	}
}

func (w *worker) read(ctx context.Context) {
	want := w.rows[w.owned[w.rng.IntN(len(w.owned))]]
	w.send(ctx, OpRead, http.MethodGet, "/orders/"+strconv.FormatInt(want.ID, 10), nil, func(a answer) (Kind, string) {
		switch a.code {
		case http.StatusOK:
			var got shop.OrderJSON
			if err := json.Unmarshal(a.body, &got); err != nil {
				return KindUnexpected, "read: " + err.Error()
			}
			g := Row{ID: got.ID, CustomerID: got.CustomerID, Status: got.Status, AmountCents: got.AmountCents}
			if g != want {
				return KindMismatch, fmt.Sprintf("read %d: want %s, got %s", want.ID, want, g)
			}
			return KindOK, ""
		case http.StatusNotFound:
			return KindMismatch, fmt.Sprintf("read %d: 404 for a row that exists", want.ID)
		}
		return "", ""
	})
}

func (w *worker) update(ctx context.Context) {
	before := w.rows[w.owned[w.rng.IntN(len(w.owned))]]
	after := before
	after.Status = shop.Statuses[w.rng.IntN(len(shop.Statuses))]
	after.AmountCents = w.rng.Int64N(10_000_000)
	in := shop.UpdateOrder{Status: &after.Status, AmountCents: &after.AmountCents}
	a := w.send(ctx, OpUpdate, http.MethodPut, "/orders/"+strconv.FormatInt(before.ID, 10), in, writeKind(before.ID, http.StatusOK))
	switch {
	case a.code == http.StatusOK:
		w.own(after)
	case a.unknown():
		w.disown(before.ID)
		w.model.set(before.ID, State{Exists: true, Row: before}, State{Exists: true, Row: after})
	}
}

func (w *worker) remove(ctx context.Context) {
	before := w.rows[w.owned[w.rng.IntN(len(w.owned))]]
	a := w.send(ctx, OpDelete, http.MethodDelete, "/orders/"+strconv.FormatInt(before.ID, 10), nil, writeKind(before.ID, http.StatusNoContent))
	switch {
	case a.code == http.StatusNoContent:
		w.disown(before.ID)
		w.model.set(before.ID, State{})
	case a.unknown():
		w.disown(before.ID)
		w.model.set(before.ID, State{Exists: true, Row: before}, State{})
	}
}

// writeKind classifies the answer to a write of a row the worker owns.
func writeKind(id int64, success int) func(answer) (Kind, string) {
	return func(a answer) (Kind, string) {
		switch a.code {
		case success:
			return KindOK, ""
		case http.StatusTooManyRequests:
			return KindShed, ""
		case http.StatusNotFound:
			return KindMismatch, fmt.Sprintf("%d: 404 for a row that exists", id)
		}
		return "", ""
	}
}

// own records r as certainly present and available to later operations.
func (w *worker) own(r Row) {
	w.model.set(r.ID, State{Exists: true, Row: r})
	w.rows[r.ID] = r
	if _, ok := w.pos[r.ID]; !ok {
		w.pos[r.ID] = len(w.owned)
		w.owned = append(w.owned, r.ID)
	}
}

// disown stops operating on id (deleted, or its state is uncertain).
func (w *worker) disown(id int64) {
	i, ok := w.pos[id]
	if !ok {
		return
	}
	last := w.owned[len(w.owned)-1]
	w.owned[i] = last
	w.pos[last] = i
	w.owned = w.owned[:len(w.owned)-1]
	delete(w.pos, id)
	delete(w.rows, id)
}
