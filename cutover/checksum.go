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
	tuple := func(v []string) string {
		if len(v) == 1 {
			return v[0]
		}
		return "(" + strings.Join(v, ", ") + ")"
	}
	from, to, closeTo := "-inf", "+inf", ")"
	if r.From != nil {
		from = tuple(r.From)
	}
	if r.To != nil {
		to, closeTo = tuple(r.To), "]"
	}
	return fmt.Sprintf("%s in (%s, %s%s", tuple(r.Columns), from, to, closeTo)
}

// Mismatch is a key range whose rows still differed after every recheck.
type Mismatch struct {
	Range     KeyRange `json:"range"`
	OrigRows  int64    `json:"orig_rows"`
	GhostRows int64    `json:"ghost_rows"`
}

// maxMismatches bounds what one pass reports; one is enough to block the gate.
const maxMismatches = 10

type chunkSum struct {
	rows   int64
	h1, h2 uint64
}

// checksummer compares the original and the ghost table chunk by chunk, in its own goroutine,
// while gh-ost keeps applying the binlog to the ghost table. A chunk can differ for a moment
// because the applier has not caught up with the latest writes; it is compared again after a
// short wait and once the engine's backlog is drained, and counts only if it still differs.
type checksummer struct {
	db             *sql.DB
	schema, table  string
	ghost          string // the table compared with table: the one the cut-over renames into place
	cfg            Checksum
	backlog        func() int64
	maxBacklog     int64
	record         func(Event)
	key            []string
	cols           []column
	mu             sync.Mutex
	state          string // pending, running, busy, ok, mismatch, error
	chunks, healed int
	rows           int64
	mismatches     []Mismatch
	busy           []keyBounds // chunks whose rows kept changing: compared again until they settle
	err            error
}

// keyBounds is one chunk's key range (nil: open on that side).
type keyBounds struct{ lo, hi []any }

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
	ghost := c.ghost
	orig, err := tableColumns(ctx, c.db, c.schema, c.table)
	if err != nil {
		return err
	}
	gcols, err := tableColumns(ctx, c.db, c.schema, ghost)
	if err != nil {
		return err
	}
	if c.key, err = primaryKey(ctx, c.db, c.schema, c.table); err != nil {
		return err
	}
	c.cols = commonColumns(orig, gcols, c.cfg.Exclude)
	shared := commonColumns(orig, gcols, nil)
	for _, k := range c.key {
		if !hasColumn(shared, k) {
			return fmt.Errorf("%w: ghost table has no column %q", ErrNoSharedKey, k)
		}
	}
	if len(c.key) == 0 {
		return fmt.Errorf("%w: %s.%s has no primary key", ErrNoSharedKey, c.schema, c.table)
	}
	return nil
}

func hasColumn(cols []column, name string) bool {
	for _, c := range cols {
		if strings.EqualFold(c.name, name) {
			return true
		}
	}
	return false
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
		if err := c.chunk(ctx, lo, hi); err != nil {
			return err
		}
		if hi == nil {
			break
		}
		lo = hi
	}
	return c.settle(ctx)
}

// settle compares the busy chunks again until each matches or holds still while it differs (a
// real mismatch). Busy chunks are those under live writes; prepare (which makes services shed
// writes) lets them settle, so they do not hold it back (see holdsPrepare).
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
		var still []keyBounds
		for _, k := range busy {
			changing, err := c.recheck(ctx, k)
			if err != nil {
				return err
			}
			if changing {
				still = append(still, k)
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

func (c *checksummer) sum(ctx context.Context, conn *sql.Conn, table, where string, args []any) (chunkSum, error) {
	var s chunkSum
	err := conn.QueryRowContext(ctx, chunkChecksumSQL(c.schema, table, c.cols, where), args...).Scan(&s.rows, &s.h1, &s.h2)
	if err != nil {
		return s, fmt.Errorf("cutover: checksum %s: %w", table, err)
	}
	return s, nil
}

// compare checksums one chunk of both tables at one point in time: a read-only transaction with a
// consistent snapshot (REPEATABLE READ). Two separate reads could straddle a write and its
// application to the ghost table, and see a lagging ghost table as equal.
func (c *checksummer) compare(ctx context.Context, where string, args []any) (a, b chunkSum, err error) {
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return a, b, fmt.Errorf("cutover: checksum: %w", err)
	}
	defer conn.Close()
	// The snapshot is taken by START TRANSACTION itself (not at the first read), before either
	// table is read.
	for _, q := range []string{"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return a, b, fmt.Errorf("cutover: checksum: %w", err)
		}
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK") }()
	if a, err = c.sum(ctx, conn, c.table, where, args); err != nil {
		return a, b, err
	}
	b, err = c.sum(ctx, conn, c.ghost, where, args)
	return a, b, err
}

// chunk compares one key range of the pass.
func (c *checksummer) chunk(ctx context.Context, lo, hi []any) error {
	where, args := rangeWhere(c.key, lo, hi)
	a, b, err := c.compare(ctx, where, args)
	if err != nil {
		return err
	}
	c.set(func() { c.chunks++; c.rows += a.rows })
	if a == b {
		return nil
	}
	k := keyBounds{lo, hi}
	changing, err := c.recheck(ctx, k)
	if changing {
		c.set(func() { c.busy = append(c.busy, k) })
	}
	return err
}

// recheck compares a differing chunk again, after the applier caught up, up to Rechecks times.
// It matches (healed); or the original's rows held still between two looks while the ghost's
// still differ, twice (a real mismatch, recorded); or the original kept changing (busy: live
// writes; compared again later: changing is true).
func (c *checksummer) recheck(ctx context.Context, k keyBounds) (changing bool, err error) {
	where, args := rangeWhere(c.key, k.lo, k.hi)
	a, b, err := c.compare(ctx, where, args)
	stable := 0
	for i := 0; err == nil && a != b && i < c.cfg.Rechecks && stable < 2; i++ {
		if !sleep(ctx, c.cfg.RecheckWait) || !c.waitBacklog(ctx) {
			return false, ctx.Err()
		}
		prev := a
		a, b, err = c.compare(ctx, where, args)
		if a == prev {
			stable++
		} else {
			stable = 0
		}
	}
	switch {
	case err != nil:
		return false, err
	case a == b:
		c.set(func() { c.healed++ })
		return false, nil
	case stable < 2:
		return true, nil
	}
	m := Mismatch{Range: KeyRange{Columns: c.key, From: texts(k.lo), To: texts(k.hi)}, OrigRows: a.rows, GhostRows: b.rows}
	c.set(func() {
		if len(c.mismatches) < maxMismatches {
			c.mismatches = append(c.mismatches, m)
		}
	})
	c.record(Event{Kind: EventChecksumMismatch, Message: fmt.Sprintf("checksum mismatch in %s: the original held still and the ghost table still differs (%d rows in the original, %d in the ghost table)",
		m.Range, m.OrigRows, m.GhostRows), Data: m})
	return false, nil
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

// waitBacklog waits (at most 5s) until the engine has applied its binlog backlog, so that a
// recheck compares against a caught-up ghost table. A throttled gh-ost stops applying, which
// would otherwise turn every write during the throttle into a "mismatch".
func (c *checksummer) waitBacklog(ctx context.Context) bool {
	deadline := time.Now().Add(5 * time.Second)
	for c.backlog() > c.maxBacklog && time.Now().Before(deadline) {
		if !sleep(ctx, 50*time.Millisecond) {
			return false
		}
	}
	return ctx.Err() == nil
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
			l.Detail = fmt.Sprintf("%d chunk(s) matched on recheck once the applier caught up", c.healed)
		}
	case "mismatch":
		l.Value = fmt.Sprintf("%d mismatching chunk(s) of %d", len(c.mismatches), c.chunks)
		parts := make([]string, len(c.mismatches))
		for i, m := range c.mismatches {
			parts[i] = fmt.Sprintf("%s (%d rows in the original, %d in the ghost)", m.Range, m.OrigRows, m.GhostRows)
		}
		l.Detail = "mismatch in " + strings.Join(parts, "; ")
	case "busy":
		l.Value = fmt.Sprintf("%d chunk(s) still changing", len(c.busy))
		parts := make([]string, len(c.busy))
		for i, k := range c.busy {
			parts[i] = KeyRange{Columns: c.key, From: texts(k.lo), To: texts(k.hi)}.String()
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
