package cutover

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// KeyRange is a range of primary-key values: From exclusive, To inclusive, nil for an open end.
type KeyRange struct {
	Columns []string `json:"columns"`
	From    []string `json:"from,omitempty"`
	To      []string `json:"to,omitempty"`
}

// String is e.g. "id in (1000, 2000]" or "(a, b) in ((1, x), +inf)".
func (r KeyRange) String() string {
	from, to, closeTo := "-inf", "+inf", ")"
	if r.From != nil {
		from = tuple(r.From)
	}
	if r.To != nil {
		to, closeTo = tuple(r.To), "]"
	}
	return fmt.Sprintf("%s in (%s, %s%s", tuple(r.Columns), from, to, closeTo)
}

// tuple is "v" for one value, "(a, b)" for more.
func tuple(v []string) string {
	if len(v) == 1 {
		return v[0]
	}
	return "(" + strings.Join(v, ", ") + ")"
}

// Mismatch is a key range whose rows differed in two exact comparisons (see checksummer).
type Mismatch struct {
	Range     KeyRange `json:"range"`
	OrigRows  int64    `json:"orig_rows"`
	GhostRows int64    `json:"ghost_rows"`
	// Row is one row that differs, found by comparing the range row by row.
	Row RowDiff `json:"row"`
}

// RowDiff is one row that differs between the original and the ghost table.
type RowDiff struct {
	Key []string `json:"key"` // the primary key's values, in its column order
	// Missing: the row is in the original and not in the ghost table; Extra: the other way
	// round; otherwise Columns names the compared columns whose values differ.
	Missing bool     `json:"missing,omitempty"`
	Extra   bool     `json:"extra,omitempty"`
	Columns []string `json:"columns,omitempty"`
}

// describe is e.g. "row (20, k1) differs in s" for the key columns cols.
func (d RowDiff) describe(cols []string) string {
	row := "row " + tuple(cols) + " = " + tuple(d.Key)
	switch {
	case d.Missing:
		return row + " is missing from the ghost table"
	case d.Extra:
		return row + " is only in the ghost table"
	}
	return row + " differs in " + strings.Join(d.Columns, ", ")
}

// maxMismatches bounds what one pass reports; one is enough to block the gate.
const maxMismatches = 10

type chunkSum struct {
	rows   int64
	h1, h2 uint64
}

// checksummer compares the original and the ghost table chunk by chunk, in its own goroutine,
// while writers keep writing and gh-ost keeps applying the binlog to the ghost table.
//
// A comparison is exact (issue 10): the original's chunk is read under share locks together with
// the primary's binlog position P, and the ghost's chunk only once the engine has applied the
// binlog through P (Deps.AwaitApplied). A first look releases the locks right after reading P, so
// writers wait for one chunk read at most; a chunk then matches, or was written again after P
// (the ghost table may be ahead of P). A chunk that differs is compared strictly: the share locks
// are held until the ghost's chunk has been read, so neither side can move past P, and a
// difference is real. It counts as a mismatch once a second strict look, row by row, finds the
// row; a chunk whose strict look could not finish (locks held by writers, the applier slower
// than ApplyTimeout) is busy and compared again later. checksum_compare.go has the protocol.
type checksummer struct {
	db             *sql.DB
	schema, table  string
	ghost          string // the table compared with table: the one the cut-over renames into place
	cfg            Checksum
	awaitApplied   func(ctx context.Context, file string, pos uint64) error
	record         func(Event)
	key            []string
	cols           []column
	keyCols        []column // the key's columns, as cols describes them
	mu             sync.Mutex
	state          string // pending, running, busy, ok, mismatch, error
	chunks, healed int
	rows           int64
	mismatches     []Mismatch
	busy           []busyChunk // chunks not decided yet: compared again until they are
	err            error
}

// busyChunk is a chunk whose exact comparison could not finish, and why.
type busyChunk struct {
	keyBounds
	why string
}

// keyBounds is one chunk's key range (nil: open on that side).
type keyBounds struct{ lo, hi []any }

func (k keyBounds) keyRange(cols []string) KeyRange {
	return KeyRange{Columns: cols, From: texts(k.lo), To: texts(k.hi)}
}

func (c *checksummer) set(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f()
}

// run makes passes until one completes; a transient error is retried after a second, a
// structural one (no shared key) stays on the checklist.
func (c *checksummer) run(ctx context.Context) {
	for {
		err := c.pass(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		c.set(func() { c.state, c.err = "error", err })
		if errors.Is(err, ErrNoSharedKey) || !sleep(ctx, time.Second) {
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (c *checksummer) prepare(ctx context.Context) error {
	orig, err := tableColumns(ctx, c.db, c.schema, c.table)
	if err != nil {
		return err
	}
	gcols, err := tableColumns(ctx, c.db, c.schema, c.ghost)
	if err != nil {
		return err
	}
	if c.key, err = primaryKey(ctx, c.db, c.schema, c.table); err != nil {
		return err
	}
	c.cols = commonColumns(orig, gcols, c.cfg.Exclude)
	shared := commonColumns(orig, gcols, nil)
	c.keyCols = nil
	for _, k := range c.key {
		col, ok := findColumn(shared, k)
		if !ok {
			return fmt.Errorf("%w: ghost table has no column %q", ErrNoSharedKey, k)
		}
		c.keyCols = append(c.keyCols, col)
	}
	if len(c.key) == 0 {
		return fmt.Errorf("%w: %s.%s has no primary key", ErrNoSharedKey, c.schema, c.table)
	}
	return nil
}

func findColumn(cols []column, name string) (column, bool) {
	for _, c := range cols {
		if strings.EqualFold(c.name, name) {
			return c, true
		}
	}
	return column{}, false
}

// pass walks the key range of the original table once. The chunk predicates cover the whole
// key space (the first is open below, the last open above), so rows that exist only in the
// ghost table are counted too.
func (c *checksummer) pass(ctx context.Context) error {
	c.set(func() {
		c.state, c.chunks, c.healed, c.rows, c.mismatches, c.busy, c.err = "running", 0, 0, 0, nil, nil, nil
	})
	if err := c.prepare(ctx); err != nil {
		return err
	}
	var lo []any
	for {
		hi, err := c.nextBound(ctx, lo)
		if err != nil {
			return err
		}
		if err := c.chunk(ctx, keyBounds{lo, hi}); err != nil {
			return err
		}
		if hi == nil {
			break
		}
		lo = hi
	}
	return c.settle(ctx)
}

// settle compares the busy chunks again until each is decided. Busy chunks are those whose rows
// writers kept locked, or whose binlog the applier had not applied in time (a throttled gh-ost);
// prepare (which makes services shed writes) lets them settle, so they do not hold it back (see
// holdsPrepare).
func (c *checksummer) settle(ctx context.Context) error {
	for {
		c.mu.Lock()
		busy, mismatch := c.busy, len(c.mismatches) > 0
		switch {
		case mismatch:
			c.state = "mismatch"
		case len(busy) > 0:
			c.state = "busy"
		default:
			c.state = "ok"
		}
		c.mu.Unlock()
		if mismatch || len(busy) == 0 {
			return nil
		}
		if !sleep(ctx, 5*c.cfg.RecheckWait) {
			return ctx.Err()
		}
		var still []busyChunk
		for _, b := range busy {
			why, err := c.recheck(ctx, b.keyBounds)
			if err != nil {
				return err
			}
			if why != "" {
				still = append(still, busyChunk{b.keyBounds, why})
			}
		}
		c.set(func() { c.busy = still })
	}
}

// holdsPrepare reports whether the checksum's state is a reason not to prepare the
// participants yet: a pass still running, a real mismatch or an error do; matching and busy
// chunks (waiting for writes to stop) do not.
func (c *checksummer) holdsPrepare() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state != "ok" && c.state != "busy"
}

func (c *checksummer) nextBound(ctx context.Context, lo []any) ([]any, error) {
	q, args := nextBoundSQL(c.schema, c.table, c.key, lo, c.cfg.ChunkSize)
	vals := make([]sql.NullString, len(c.key))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	err := c.db.QueryRowContext(ctx, q, args...).Scan(ptrs...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cutover: checksum chunk bound: %w", err)
	}
	// Bound as strings, not bytes: a string compares under the column's collation, the same
	// order ORDER BY walked, while []byte would compare as a binary string.
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = v.String
	}
	return out, nil
}

// chunk compares one key range of the pass: a first look, and a strict recheck when it differs
// or could not finish.
func (c *checksummer) chunk(ctx context.Context, k keyBounds) error {
	a, b, err := c.compare(ctx, k, false)
	var u *undecidedError
	if err != nil && !errors.As(err, &u) {
		return err
	}
	c.set(func() { c.chunks++; c.rows += a.rows })
	if err == nil && a == b {
		return nil
	}
	why, err := c.recheck(ctx, k)
	if why != "" {
		c.set(func() { c.busy = append(c.busy, busyChunk{k, why}) })
	}
	return err
}

// recheck compares a chunk strictly, up to Rechecks times RecheckWait apart. It matches (healed:
// the first look saw writes made after it); or differs, and a row-by-row strict look names a row
// (a real mismatch, recorded); or could not be decided: why says why (busy, compared again later).
func (c *checksummer) recheck(ctx context.Context, k keyBounds) (why string, err error) {
	why = "not compared yet"
	for i := 0; i < c.cfg.Rechecks; i++ {
		if i > 0 && !sleep(ctx, c.cfg.RecheckWait) {
			return "", ctx.Err()
		}
		a, b, err := c.compare(ctx, k, true)
		var u *undecidedError
		switch {
		case errors.As(err, &u):
			why = u.reason
			continue
		case err != nil:
			return "", err
		case a == b:
			c.set(func() { c.healed++ })
			return "", nil
		}
		m, err := c.rowDiff(ctx, k)
		switch {
		case errors.As(err, &u):
			why = u.reason
			continue
		case err != nil:
			return "", err
		case m == nil:
			// The two strict looks disagree: the ghost table changed between them (a write to
			// it that was not gh-ost's), so neither is taken as the answer; look again.
			why = "the ghost table changed between two exact comparisons"
			continue
		}
		c.recordMismatch(*m)
		return "", nil
	}
	return why, nil
}

func (c *checksummer) recordMismatch(m Mismatch) {
	c.set(func() {
		if len(c.mismatches) < maxMismatches {
			c.mismatches = append(c.mismatches, m)
		}
	})
	c.record(Event{Kind: EventChecksumMismatch, Message: fmt.Sprintf(
		"checksum mismatch in %s: compared exactly (the original's rows share-locked until gh-ost had applied the binlog up to them), %s (%d rows in the original, %d in the ghost table)",
		m.Range, m.Row.describe(c.key), m.OrigRows, m.GhostRows), Data: m})
}

func texts(v []any) []string {
	if v == nil {
		return nil
	}
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = fmt.Sprint(x)
	}
	return out
}

// line is the checksum's checklist line.
func (c *checksummer) line() Line {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := Line{Name: LineChecksum, Limit: "all chunks match"}
	progress := fmt.Sprintf("%d chunks, %d rows", c.chunks, c.rows)
	switch c.state {
	case "ok":
		l.OK, l.Value = true, progress+" match"
		if c.healed > 0 {
			l.Detail = fmt.Sprintf("%d chunk(s) matched on recheck: written again while first compared, then compared with their rows share-locked until gh-ost had applied the binlog up to them", c.healed)
		}
	case "mismatch":
		l.Value = fmt.Sprintf("%d mismatching chunk(s) of %d", len(c.mismatches), c.chunks)
		parts := make([]string, len(c.mismatches))
		for i, m := range c.mismatches {
			parts[i] = fmt.Sprintf("%s (%d rows in the original, %d in the ghost): %s", m.Range, m.OrigRows, m.GhostRows, m.Row.describe(c.key))
		}
		l.Detail = "mismatch in " + strings.Join(parts, "; ")
	case "busy":
		l.Value = fmt.Sprintf("%d chunk(s) still changing", len(c.busy))
		parts := make([]string, len(c.busy))
		for i, b := range c.busy {
			parts[i] = b.keyRange(c.key).String() + ": " + b.why
		}
		l.Detail = "rows under live writes, compared again until they settle: " + strings.Join(parts, "; ")
		l.Pending = true
	case "error":
		l.Value, l.Detail = "error", c.err.Error()
	default:
		l.Value, l.Pending = "running: "+progress, true
	}
	return l
}
