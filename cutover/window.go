package cutover

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Replica is one replica whose lag the gate watches.
type Replica struct {
	Name string  // shown on the checklist, e.g. "127.0.0.1:13307"
	DB   *sql.DB // a pool connected to the replica
}

// readStatus reads global status counters from information_schema.GLOBAL_STATUS, which works
// with performance_schema off and, unlike SHOW STATUS, takes bound values.
func readStatus(ctx context.Context, db *sql.DB, names ...string) (map[string]float64, error) {
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	rows, err := db.QueryContext(ctx, "SELECT UPPER(VARIABLE_NAME), VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE UPPER(VARIABLE_NAME) IN (?"+
		strings.Repeat(", ?", len(names)-1)+")", args...)
	if err != nil {
		return nil, fmt.Errorf("cutover: read global status: %w", err)
	}
	defer rows.Close()
	out := make(map[string]float64, len(names))
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return nil, fmt.Errorf("cutover: read global status: %w", err)
		}
		if out[name], err = strconv.ParseFloat(value, 64); err != nil {
			return nil, fmt.Errorf("cutover: status %s=%q is not a number", name, value)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cutover: read global status: %w", err)
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("cutover: unknown status variable %s", n)
		}
	}
	return out, nil
}

// replicaLag reads Seconds_Behind_Master. MariaDB reports NULL while a replication thread is
// stopped, which the gate treats as "not replicating" rather than "no lag". Its unit is whole
// seconds; for finer limits pass Deps.ReplicaLag (e.g. the throttler's heartbeat lag).
func replicaLag(ctx context.Context, db *sql.DB) (time.Duration, error) {
	rows, err := db.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return 0, fmt.Errorf("cutover: show slave status: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, fmt.Errorf("cutover: show slave status: %w", err)
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("cutover: show slave status: %w", err)
		}
		return 0, fmt.Errorf("cutover: not configured as a replica")
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return 0, fmt.Errorf("cutover: show slave status: %w", err)
	}
	st := make(map[string]sql.NullString, len(cols))
	for i, c := range cols {
		st[c] = vals[i]
	}
	if st["Slave_IO_Running"].String != "Yes" || st["Slave_SQL_Running"].String != "Yes" || !st["Seconds_Behind_Master"].Valid {
		return 0, fmt.Errorf("cutover: not replicating (IO=%s SQL=%s) %s", st["Slave_IO_Running"].String,
			st["Slave_SQL_Running"].String, st["Last_SQL_Error"].String+st["Last_IO_Error"].String)
	}
	secs, err := strconv.ParseInt(st["Seconds_Behind_Master"].String, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cutover: Seconds_Behind_Master %q: %w", st["Seconds_Behind_Master"].String, err)
	}
	return time.Duration(secs) * time.Second, nil
}

// sample is one reading of a monotonic counter.
type sample struct {
	at time.Time
	v  float64
}

// The counters the query-rate line can follow.
const (
	// sourceTableWrites is the table's ROWS_CHANGED in MariaDB's user statistics
	// (information_schema.TABLE_STATISTICS, kept while userstat=ON): the application's write
	// rate on this very table. ROWS_READ is left out: the gate's own checksum and gh-ost read it.
	sourceTableWrites = "rows changed/s on the table"
	// sourceQuestions is the server's Questions: without per-table statistics, a spike anywhere
	// on the server counts.
	sourceQuestions = "queries/s, server-wide (turn on userstat for the table's own rate)"
)

// rateWindow keeps the readings of a counter over baseline+recent, to compare the recent rate
// with the rate before it.
type rateWindow struct {
	baseline, recent time.Duration
	source           string // which counter (sourceTableWrites or sourceQuestions)
	samples          []sample
}

// tableWrites reads the table's cumulative changed rows from MariaDB's user statistics; ok is
// false when they are not kept (userstat off, or a server without them).
func tableWrites(ctx context.Context, db *sql.DB, schema, table string) (rows float64, ok bool, err error) {
	var on sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT @@userstat").Scan(&on); err != nil || on.String != "1" {
		return 0, false, nil
	}
	var n sql.NullFloat64
	err = db.QueryRowContext(ctx, `SELECT ROWS_CHANGED FROM information_schema.TABLE_STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, schema, table).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, true, nil // no change since the statistics started
	}
	if err != nil {
		return 0, false, err
	}
	return n.Float64, true, nil
}

func (w *rateWindow) add(at time.Time, v float64) {
	if n := len(w.samples); n > 0 && v < w.samples[n-1].v {
		w.samples = w.samples[:0] // the counter went back: FLUSH STATUS or a restart
	}
	w.samples = append(w.samples, sample{at, v})
	cut := at.Add(-w.baseline - w.recent)
	i := 0
	for i < len(w.samples)-1 && w.samples[i+1].at.Before(cut) {
		i++
	}
	w.samples = w.samples[i:]
}

// rates returns the recent rate and the baseline rate per second; ok is false until the
// baseline spans at least the recent window.
func (w *rateWindow) rates() (recent, baseline float64, ok bool) {
	n := len(w.samples)
	if n < 3 {
		return 0, 0, false
	}
	last := w.samples[n-1]
	split := -1
	for i := n - 2; i >= 0; i-- {
		if !w.samples[i].at.After(last.at.Add(-w.recent)) {
			split = i
			break
		}
	}
	if split <= 0 {
		return 0, 0, false
	}
	first, mid := w.samples[0], w.samples[split]
	if mid.at.Sub(first.at) < w.recent {
		return 0, 0, false
	}
	rate := func(a, b sample) float64 { return (b.v - a.v) / b.at.Sub(a.at).Seconds() }
	return rate(mid, last), rate(first, mid), true
}

// qpsLine compares the recent rate with its baseline. A baseline under 1/s counts as 1/s so that
// an idle server does not turn a handful of queries into a huge ratio.
func qpsLine(w *rateWindow, limit float64) Line {
	l := Line{Name: LineQPS, Limit: fmt.Sprintf("<= %.2fx baseline", limit)}
	recent, baseline, ok := w.rates()
	if !ok {
		l.Value = "measuring baseline"
		l.Detail = fmt.Sprintf("needs %s of history (%s) before the last %s", w.recent, w.source, w.recent)
		return l
	}
	ratio := recent / max(baseline, 1)
	l.OK = ratio <= limit
	l.Value = fmt.Sprintf("%.2fx", ratio)
	l.Detail = fmt.Sprintf("%.0f now, %.0f baseline (%s)", recent, baseline, w.source)
	return l
}
