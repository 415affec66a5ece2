package ghost

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/github/gh-ost/go/base"
	"github.com/github/gh-ost/go/logic"
	gosql "github.com/github/gh-ost/go/sql"
)

// The row count behind the progress, when the statistics were wrong. Without --exact-rowcount
// the copy's total is the server's statistics estimate (gh-ost's EXPLAIN, go/logic/inspect.go
// estimateTableRowsViaExplain), and InnoDB's statistics can be far off: a table grown since its
// last ANALYZE (or with STATS_AUTO_RECALC off) is estimated at a fraction of its rows, and the
// progress then sits at 99% from the moment the copy passes the estimate to its end, with an ETA
// of seconds for what may be most of the copy. Asking the server about the key range instead
// does not help on MariaDB: its range estimate (btr_estimate_n_rows_in_range) is capped at half
// the table's statistics and doubled for large ranges (measured: 995,362 for every range of a
// 2M-row table from id > 0 to id > 1,500,000, 219,052 for the last 100,000 rows).
//
// So the worker counts, once the copy has reached 90% of the estimate: the rows after the last
// chunk gh-ost copied, up to the end of the copy's range, on the server gh-ost inspects (the
// replica by default, off the primary's critical path), countStep rows per statement with a
// pause as long as each statement took. The total from then on is what was copied when the count
// began plus what it found. A table whose statistics were right is counted at 90%, its last tenth
// (on the bench's 2M-row table, 200,000 primary-key entries on the replica, tens of
// milliseconds); one whose statistics were low is counted when the copy passes nine tenths of the
// estimate, and from there on shows its true progress (measured: a 1M-row table estimated at
// 20,000 rows showed 99% at 254,760 rows, then 44.6% at 445,830, its 713,395 rows left counted in
// 213 ms). A count that runs out of time (countTimeout) is a floor and is continued when the copy
// nears it. Counts only move the total shown: nothing of the copy depends on them.

const (
	// countTrigger is the share of the estimate copied at which the rest is counted.
	countTrigger = 0.9
	// countStep bounds one count statement (a primary-key range scan on the inspected server,
	// about 0.1 s a million rows here); a longer rest is counted in several.
	countStep = 1_000_000
	// countEvery is the least time between two counts of one copy.
	countEvery = 5 * time.Second
	// countTimeout bounds a whole count; one that runs out leaves the estimate as it was.
	countTimeout = 30 * time.Second
)

// rowCounter counts the rows the copy still has to go when gh-ost's estimate proved short. Armed
// by gh-ost's OnBeforeRowCopy hook (the Migrator's applier and the copy's range are set by then),
// asked by the report loop (snapshot) at every progress report.
type rowCounter struct {
	db    *sql.DB // the inspected server
	queue reflect.Value
	log   base.Logger
	step  int64 // rows per count statement; 0: countStep

	// Set by arm, before armed is stored; read only after armed is seen.
	mc      *base.MigrationContext
	applier *logic.Applier
	key     *gosql.ColumnList
	keyName string
	end     []any // the copy's range end (MigrationRangeMaxValues)
	armed   atomic.Bool

	total   atomic.Int64 // the copy's rows as counted; 0: not counted
	floor   atomic.Bool  // total is a lower bound (the count ran out of time)
	running atomic.Bool
	last    atomic.Int64 // when the last count ended, Unix nanoseconds; 0: none yet
}

// newRowCounter opens the inspected server for counts; queue is gh-ost's event queue (the count
// reads gh-ost's position between two chunks, on its apply loop).
func newRowCounter(ins Endpoint, schema string, queue reflect.Value, log base.Logger) (*rowCounter, error) {
	db, err := sql.Open("mysql", ins.dsn(schema))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return &rowCounter{db: db, queue: queue, log: log}, nil
}

// Close closes the counter's connection.
func (c *rowCounter) Close() error { return c.db.Close() }

// arm takes what a count needs from gh-ost; it runs in OnBeforeRowCopy, in the goroutine that set
// all of it.
func (c *rowCounter) arm(m *logic.Migrator, mc *base.MigrationContext) {
	a, err := migratorApplier(m)
	if err != nil || mc.UniqueKey == nil || mc.MigrationRangeMaxValues == nil {
		return
	}
	c.mc, c.applier, c.key, c.keyName = mc, a, &mc.UniqueKey.Columns, mc.UniqueKey.Name
	c.end = mc.MigrationRangeMaxValues.Clone().AbstractValues()
	c.armed.Store(true)
}

// estimate is the copy's total for a report: the count when there is one, gh-ost's estimate
// otherwise. It starts a count in the background when the copy reached countTrigger of the
// total it would report, or passed a counted floor, and is not held (a held apply loop would not
// run the count's entry).
func (c *rowCounter) estimate(copied, ghost int64, held bool) int64 {
	est := ghost
	if t := c.total.Load(); t > 0 {
		est = t
	}
	if held || !c.armed.Load() || !due(copied, est, c.total.Load() > 0, c.floor.Load()) || !c.running.CompareAndSwap(false, true) {
		return est
	}
	if last := c.last.Load(); last != 0 && time.Since(time.Unix(0, last)) < countEvery {
		c.running.Store(false)
		return est
	}
	go func() {
		defer c.running.Store(false)
		if err := c.count(ghost); err != nil {
			c.log.Warningf("row count: %v; the progress stays on the estimate of %d rows", err, est)
		}
		c.last.Store(time.Now().UnixNano())
	}()
	return est
}

// due says whether a count is due with copied rows of est: at countTrigger of an estimate that
// was never counted or is a counted floor, and past a counted total (rows arrived in the range).
func due(copied, est int64, counted, floor bool) bool {
	switch {
	case est <= 0:
		return false
	case !counted || floor:
		return float64(copied) >= countTrigger*float64(est)
	default:
		return copied >= est
	}
}

// count reads gh-ost's position and counts the rows after it.
func (c *rowCounter) count(ghost int64) error {
	ctx, cancel := context.WithTimeout(c.mc.GetContext(), countTimeout)
	defer cancel()
	copied, after, err := c.position(ctx)
	if err != nil || after == nil { // nil: no chunk copied yet
		return err
	}
	began := time.Now()
	left, complete, err := c.countAfter(ctx, after)
	if err != nil {
		return err
	}
	c.floor.Store(!complete)
	c.total.Store(max(copied+left, 1))
	atLeast := ""
	if !complete {
		atLeast = "at least "
	}
	c.log.Infof("row count: %s%d row(s) left after the %d copied, counted in %v on the inspected server (the statistics estimated %d rows): the copy's total is %s%d",
		atLeast, left, copied, time.Since(began).Round(time.Millisecond), ghost, atLeast, copied+left)
	return nil
}

// position is the rows copied and the unique key's values at the end of the last chunk copied,
// read on gh-ost's apply loop between two chunks, where the two agree (a chunk's function adds
// its rows and then records its range, Migrator.iterateChunks); after is nil before the first.
func (c *rowCounter) position(ctx context.Context) (copied int64, after []any, err error) {
	type point struct {
		copied int64
		after  []any
	}
	got := make(chan point, 1)
	entry, err := queueEvent(c.queue, func() error {
		c.applier.LastIterationRangeMutex.Lock()
		var after []any
		if v := c.applier.LastIterationRangeMaxValues; v != nil {
			after = v.Clone().AbstractValues()
		}
		c.applier.LastIterationRangeMutex.Unlock()
		got <- point{c.mc.GetTotalRowsCopied(), after}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectSend, Chan: c.queue, Send: entry},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
	}
	if chosen, _, _ := reflect.Select(cases); chosen == 1 {
		return 0, nil, fmt.Errorf("gh-ost's apply loop did not take the count's entry: %w", ctx.Err())
	}
	select {
	case p := <-got:
		return p.copied, p.after, nil
	case <-ctx.Done():
		return 0, nil, fmt.Errorf("gh-ost's apply loop did not run the count's entry: %w", ctx.Err())
	}
}

// countAfter counts the rows of the copy's range after the key values after, countStep rows at a
// time: a step finds the countStep-th row after the last (one index range scan) and pauses as
// long as it took, so the inspected server spends at most half its time on a long count; the
// last step counts what is left. complete is false when the time ran out first (left is then a
// floor).
func (c *rowCounter) countAfter(ctx context.Context, after []any) (left int64, complete bool, err error) {
	table := gosql.EscapeName(c.mc.DatabaseName) + "." + gosql.EscapeName(c.mc.OriginalTableName)
	index := gosql.EscapeName(c.keyName)
	upTo, upToArgs, err := gosql.BuildRangePreparedComparison(c.key, c.end, gosql.LessThanOrEqualsComparisonSign)
	if err != nil {
		return 0, false, err
	}
	cols := make([]string, 0, c.key.Len())
	for _, n := range c.key.Names() {
		cols = append(cols, gosql.EscapeName(n))
	}
	order := strings.Join(cols, ", ")
	step := cmp.Or(c.step, countStep)
	for {
		from, fromArgs, err := gosql.BuildRangePreparedComparison(c.key, after, gosql.GreaterThanComparisonSign)
		if err != nil {
			return left, false, err
		}
		where := "(" + from + ") and (" + upTo + ")"
		args := append(append([]any{}, fromArgs...), upToArgs...)
		began := time.Now()
		next := gosql.NewColumnValues(len(cols))
		q := fmt.Sprintf("select %s from %s force index (%s) where %s order by %s limit 1 offset %d", order, table, index, where, order, step-1)
		err = c.db.QueryRowContext(ctx, q, args...).Scan(next.ValuesPointers...)
		switch {
		case ctx.Err() != nil:
			return left, false, nil
		case errors.Is(err, sql.ErrNoRows): // fewer than a step left: count them
			var n int64
			q = fmt.Sprintf("select count(*) from %s force index (%s) where %s", table, index, where)
			if err := c.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
				if ctx.Err() != nil {
					return left, false, nil
				}
				return left, false, fmt.Errorf("count the rows left: %w", err)
			}
			return left + n, true, nil
		case err != nil:
			return left, false, fmt.Errorf("count the rows left: %w", err)
		}
		left += step
		after = next.AbstractValues()
		select {
		case <-ctx.Done():
			return left, false, nil
		case <-time.After(time.Since(began)):
		}
	}
}
