package loadgen

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/ghostgate/ghostgate/internal/measure"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Mix weighs the operations: each operation is drawn with probability weight / sum of weights.
type Mix struct {
	Insert, Update, Delete, Read int
}

// Config is a writer's configuration. The zero value of each bound means "no bound".
type Config struct {
	Spec    Spec
	Workers int // concurrent goroutines, each with at most one connection in use
	Mix     Mix
	// Rate is the total target rate in operations per second over all workers; 0 runs flat out.
	// A worker that falls behind (a blocked statement) skips the ticks it missed instead of
	// bursting to catch up, like an application thread that waited.
	Rate     float64
	MaxOps   int64         // total operations over all workers
	Duration time.Duration // run time
	// OpTimeout bounds one operation (default 60 s): a migration that blocks the table longer
	// shows up as errors instead of hanging Stop.
	OpTimeout time.Duration
	// Untracked drops the model: operations are single autocommit statements on keys drawn from
	// sequence numbers 1..KeyRange (inserts use FirstSeq on), with no read-back. For benchmarks.
	Untracked bool
	KeyRange  int64
	// FirstSeq is the first sequence number (Spec.KeyOf) used for inserted rows (default 1). On
	// a seeded table, start past the seeded range.
	FirstSeq int64
	// RandSeed makes the generated values reproducible; 0 picks one from the clock.
	RandSeed uint64
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if err := c.Spec.Validate(); err != nil {
		return err
	}
	switch {
	case c.Workers < 1:
		return fmt.Errorf("%w: workers %d < 1", ErrInvalidSpec, c.Workers)
	case c.Mix.Insert < 0 || c.Mix.Update < 0 || c.Mix.Delete < 0 || c.Mix.Read < 0:
		return fmt.Errorf("%w: negative weight in mix %+v", ErrInvalidSpec, c.Mix)
	case c.Mix.Insert+c.Mix.Update+c.Mix.Delete+c.Mix.Read == 0:
		return fmt.Errorf("%w: empty mix", ErrInvalidSpec)
	case c.Rate < 0 || c.MaxOps < 0 || c.Duration < 0 || c.OpTimeout < 0 || c.FirstSeq < 0:
		return fmt.Errorf("%w: negative rate, bound, timeout or sequence", ErrInvalidSpec)
	case c.Untracked && c.KeyRange < 1 && c.Mix.Update+c.Mix.Delete+c.Mix.Read > 0:
		return fmt.Errorf("%w: an untracked writer that updates, deletes or reads needs KeyRange", ErrInvalidSpec)
	case c.Mix.Update > 0 && len(c.Spec.Columns) == 0:
		return fmt.Errorf("%w: updates need a non-key column", ErrInvalidSpec)
	}
	return nil
}

// Result is what a stopped writer hands back.
type Result struct {
	// Model holds the rows the table must contain (nil for an untracked writer).
	Model     *Model
	Stats     Stats
	Anomalies []Anomaly
}

// ErrUnsettled means a commit's outcome stayed unknown: the row could not be read back even
// after the writer stopped, so the model cannot be trusted.
var ErrUnsettled = errors.New("loadgen: outcome of a commit could not be settled")

// errPending is the error of an operation skipped because an unknown commit is not settled yet.
var errPending = errors.New("loadgen: waiting to settle an unknown commit")

// ErrNotStarted is returned by Wait and Stop on a writer that was never started.
var ErrNotStarted = errors.New("loadgen: writer not started")

// Writer runs concurrent inserts, updates, deletes and reads on one table. Each worker owns a
// disjoint set of keys (by hash), so its model of those rows is exact without locks between
// workers, and a row is never written by two workers at once.
type Writer struct {
	db    *sql.DB
	cfg   Config
	types []string // DATA_TYPE of each column of Spec.Names, read at Start

	startOnce sync.Once
	cancel    context.CancelFunc
	done      chan struct{}
	began     time.Time // set by run before the workers start; read by collect after they end
	result    Result
	err       error
}

// NewWriter validates cfg and returns a writer on db (which must point at the table's schema).
func NewWriter(db *sql.DB, cfg Config) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.OpTimeout == 0 {
		cfg.OpTimeout = 60 * time.Second
	}
	if cfg.FirstSeq == 0 {
		cfg.FirstSeq = 1
	}
	if cfg.RandSeed == 0 {
		cfg.RandSeed = uint64(time.Now().UnixNano())
	}
	return &Writer{db: db, cfg: cfg, done: make(chan struct{})}, nil
}

// Start snapshots the table into the model (tracked writers) and starts the workers; it returns
// once they run. They stop at the first of: ctx done, Stop, MaxOps, Duration.
func (w *Writer) Start(ctx context.Context) error {
	err := errors.New("loadgen: writer already started")
	w.startOnce.Do(func() { err = w.start(ctx) })
	return err
}

func (w *Writer) start(ctx context.Context) error {
	types, err := columnTypes(ctx, w.db, w.cfg.Spec.Table, w.cfg.Spec.Names())
	if err != nil {
		close(w.done)
		w.err = err
		return err
	}
	w.types = types
	workers := make([]*worker, w.cfg.Workers)
	for i := range workers {
		workers[i] = newWorker(w, i)
	}
	if !w.cfg.Untracked {
		snap, err := Snapshot(ctx, w.db, w.cfg.Spec)
		if err != nil {
			close(w.done)
			w.err = err
			return err
		}
		for _, r := range snap.rows {
			workers[owner(r.Key(snap.nkey), len(workers))].own(r)
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	if w.cfg.Duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, w.cfg.Duration)
	}
	w.cancel = cancel
	go w.run(runCtx, workers)
	return nil
}

// owner is the worker that owns a key.
func owner(key []string, n int) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(encodeKey(key)))
	return int(h.Sum64() % uint64(n))
}

func (w *Writer) run(ctx context.Context, workers []*worker) {
	defer close(w.done)
	defer w.cancel()
	began := time.Now()
	w.began = began
	var ops atomic.Int64
	var wg sync.WaitGroup
	for _, wk := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk.loop(ctx, began, &ops)
		}()
	}
	wg.Wait()
	elapsed := time.Since(began)
	w.result, w.err = w.collect(workers, elapsed)
}

// collect settles what is still uncertain and merges the workers' models and measurements.
func (w *Writer) collect(workers []*worker, elapsed time.Duration) (Result, error) {
	recs := make([]*recorder, len(workers))
	var res Result
	var unsettled int
	if !w.cfg.Untracked {
		res.Model = NewModel(w.cfg.Spec)
	}
	for i, wk := range workers {
		unsettled += wk.settleAll()
		recs[i] = wk.rec
		res.Anomalies = append(res.Anomalies, wk.anomalies...)
		if res.Model != nil {
			res.Model.merge(wk.model)
		}
	}
	res.Stats = summarize(recs, elapsed)
	res.Stats.Began = w.began
	if unsettled > 0 {
		return res, fmt.Errorf("%w: %d rows", ErrUnsettled, unsettled)
	}
	return res, nil
}

// Wait blocks until the writer ends by itself (MaxOps, Duration or its context) and returns
// what it measured.
func (w *Writer) Wait() (Result, error) {
	if w.done == nil || w.cancel == nil && w.err == nil {
		return Result{}, ErrNotStarted
	}
	<-w.done
	return w.result, w.err
}

// Stop ends the workers after their current operation, settles uncertain commits and returns
// the model and the measurements.
func (w *Writer) Stop() (Result, error) {
	if w.cancel != nil {
		w.cancel()
	}
	return w.Wait()
}

// worker is one goroutine of a writer with its private keys, model, random source and recorder.
type worker struct {
	w     *Writer
	id    int
	rng   *rand.Rand
	rec   *recorder
	model *Model
	keys  []string       // encoded keys of the rows this worker owns, for random picks
	index map[string]int // position of each key in keys
	seq   int64          // next sequence number for an insert
	// pending are inserts or row changes whose commit outcome is unknown, by encoded bound key.
	pending   map[string][]any
	anomalies []Anomaly
}

func newWorker(w *Writer, id int) *worker {
	return &worker{
		w:       w,
		id:      id,
		rng:     rand.New(rand.NewPCG(w.cfg.RandSeed, uint64(id))),
		rec:     newRecorder(),
		model:   NewModel(w.cfg.Spec),
		index:   map[string]int{},
		seq:     w.cfg.FirstSeq + int64(id),
		pending: map[string][]any{},
	}
}

// own records r as an expected row this worker may pick.
func (wk *worker) own(r Row) {
	wk.model.put(r)
	k := encodeKey(r.Key(wk.model.nkey))
	if _, ok := wk.index[k]; !ok {
		wk.index[k] = len(wk.keys)
		wk.keys = append(wk.keys, k)
	}
}

// disown records that the row with key k is no longer expected.
func (wk *worker) disown(key []string) {
	wk.model.del(key)
	k := encodeKey(key)
	i, ok := wk.index[k]
	if !ok {
		return
	}
	last := len(wk.keys) - 1
	wk.keys[i] = wk.keys[last]
	wk.index[wk.keys[i]] = i
	wk.keys = wk.keys[:last]
	delete(wk.index, k)
}

// loop paces and runs operations until ctx is done or the shared MaxOps budget is spent.
func (wk *worker) loop(ctx context.Context, began time.Time, ops *atomic.Int64) {
	cfg := wk.w.cfg
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(cfg.Workers) / cfg.Rate * float64(time.Second))
	}
	// Stagger the workers over one interval so that a fixed rate is spread evenly.
	next := began.Add(interval * time.Duration(wk.id) / time.Duration(cfg.Workers))
	for {
		if interval > 0 && !measure.SleepUntil(ctx, next) {
			return
		}
		if ctx.Err() != nil || (cfg.MaxOps > 0 && ops.Add(1) > cfg.MaxOps) {
			return
		}
		op := wk.pick()
		if op == "" {
			return // nothing this worker can do (no rows and no inserts)
		}
		wk.do(ctx, began, op)
		next = next.Add(interval)
		if now := time.Now(); next.Before(now) {
			next = now
		}
	}
}

// pick draws an operation from the mix. A tracked worker with no rows of its own inserts.
func (wk *worker) pick() Op {
	m := wk.w.cfg.Mix
	x := wk.rng.IntN(m.Insert + m.Update + m.Delete + m.Read)
	var op Op
	switch {
	case x < m.Insert:
		op = OpInsert
	case x < m.Insert+m.Update:
		op = OpUpdate
	case x < m.Insert+m.Update+m.Delete:
		op = OpDelete
	default:
		op = OpRead
	}
	if op != OpInsert && !wk.w.cfg.Untracked && len(wk.keys) == 0 {
		if m.Insert == 0 {
			return ""
		}
		return OpInsert
	}
	return op
}

// do runs one operation under its own timeout. The timeout is detached from ctx on purpose:
// Stop must not cut a statement in half (that would turn a clean commit into an unknown one).
func (wk *worker) do(ctx context.Context, began time.Time, op Op) {
	opCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wk.w.cfg.OpTimeout)
	defer cancel()
	t0 := time.Now()
	var err error
	if len(wk.pending) > 0 {
		// A row whose last commit is unknown must not be written again before it is settled:
		// the model would be built on a guess.
		wk.settle(opCtx)
	}
	if len(wk.pending) > 0 {
		err = errPending
	} else if wk.w.cfg.Untracked {
		err = wk.untracked(opCtx, op)
	} else {
		err = wk.tracked(opCtx, op)
	}
	end := time.Now()
	wk.rec.add(sample{end: end.Sub(began), dur: end.Sub(t0), op: op, err: err != nil}, err)
	if errors.Is(err, errPending) {
		measure.SleepUntil(ctx, end.Add(100*time.Millisecond)) // the server is likely down: do not spin
	}
}
