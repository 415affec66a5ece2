package loadgen

import (
	"fmt"
	"github.com/ghostgate/ghostgate/internal/measure"
	"slices"
	"strings"
	"time"
)

// Op is a kind of operation the writer performs.
type Op string

// The operations. A read is a point SELECT by primary key; in a tracked writer it is also
// compared with the model.
const (
	OpInsert Op = "insert"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
	OpRead   Op = "read"
)

// Latency summarises the latencies of a set of operations (errors included: a statement that
// waited 3 s for a lock and then failed was still a 3 s wait for the application).
type Latency struct {
	Count  int
	Errors int
	P50    time.Duration
	P99    time.Duration
	P999   time.Duration // the 99.9th percentile: the stalls a p99 hides (bench, issue 12)
	Max    time.Duration
}

// Stats is what a writer measured.
type Stats struct {
	Elapsed time.Duration
	All     Latency
	ByOp    map[Op]Latency
	// MaxStall is the longest time during which no operation of any worker succeeded, the run's
	// start and end included: how long the table looked frozen to the application.
	MaxStall time.Duration
	// Began is when the writer started, MaxStallEnd when the longest stall ended (since Began):
	// what lines a stall up with the migration's phases (BenchmarkOnlineAlter).
	Began       time.Time
	MaxStallEnd time.Duration
	// Errors holds up to 10 distinct error messages, with how often each occurred.
	Errors []ErrorCount
	// Reconciled counts commits whose outcome was unknown (connection lost during COMMIT) and
	// that were settled by reading the row back.
	Reconciled int
}

// ErrorCount is one error message and how many operations failed with it.
type ErrorCount = measure.ErrorCount

// OpsPerSecond is the rate of successful operations.
func (s Stats) OpsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.All.Count-s.All.Errors) / s.Elapsed.Seconds()
}

// String is a one-line summary.
func (s Stats) String() string {
	return fmt.Sprintf("%d ops in %s (%.0f/s), %d errors, p50 %s, p99 %s, max %s, max stall %s",
		s.All.Count, s.Elapsed.Round(time.Millisecond), s.OpsPerSecond(), s.All.Errors,
		s.All.P50, s.All.P99, s.All.Max, s.MaxStall.Round(time.Millisecond))
}

// sample is one operation: when it ended (since the writer started), how long it took.
type sample struct {
	end time.Duration
	dur time.Duration
	op  Op
	err bool
}

// recorder belongs to one worker; recorders are merged when the writer stops.
type recorder struct {
	samples    []sample
	errors     map[string]int
	reconciled int
}

func newRecorder() *recorder { return &recorder{errors: map[string]int{}} }

func (r *recorder) add(s sample, err error) {
	r.samples = append(r.samples, s)
	if err != nil {
		r.errors[err.Error()]++
	}
}

// summarize merges the workers' recorders into Stats for a run of the given length.
func summarize(recs []*recorder, elapsed time.Duration) Stats {
	st := Stats{Elapsed: elapsed, ByOp: map[Op]Latency{}}
	var all []sample
	errs := map[string]int{}
	for _, r := range recs {
		all = append(all, r.samples...)
		for m, n := range r.errors {
			errs[m] += n
		}
		st.Reconciled += r.reconciled
	}
	st.All = latency(all)
	byOp := map[Op][]sample{}
	for _, s := range all {
		byOp[s.op] = append(byOp[s.op], s)
	}
	for op, ss := range byOp {
		st.ByOp[op] = latency(ss)
	}
	st.MaxStall, st.MaxStallEnd = maxStall(all, elapsed)
	st.Errors = measure.TopErrors(errs, 10)
	return st
}

func latency(ss []sample) Latency {
	l := Latency{Count: len(ss)}
	if len(ss) == 0 {
		return l
	}
	durs := make([]time.Duration, len(ss))
	for i, s := range ss {
		durs[i] = s.dur
		if s.err {
			l.Errors++
		}
	}
	slices.Sort(durs)
	l.P50 = measure.Percentile(durs, 0.50)
	l.P99 = measure.Percentile(durs, 0.99)
	l.P999 = measure.Percentile(durs, 0.999)
	l.Max = durs[len(durs)-1]
	return l
}

// maxStall is the longest gap between successive successful completions, counting the start and
// the end of the run as boundaries, and when it ended.
func maxStall(ss []sample, elapsed time.Duration) (stall, end time.Duration) {
	ends := make([]time.Duration, 0, len(ss)+2)
	ends = append(ends, 0)
	for _, s := range ss {
		if !s.err {
			ends = append(ends, s.end)
		}
	}
	ends = append(ends, elapsed)
	slices.Sort(ends)
	for i := 1; i < len(ends); i++ {
		if gap := ends[i] - ends[i-1]; gap > stall {
			stall, end = gap, ends[i]
		}
	}
	return stall, end
}

// Anomaly is something a tracked writer saw that contradicts its model: a row it expected was
// gone or different when it went to update, delete or read it. Each one means the table changed
// behind the writer's back (or lost a write); tests require none.
type Anomaly struct {
	Op     Op
	Key    []string
	Reason string
}

func (a Anomaly) String() string {
	return fmt.Sprintf("%s (%s): %s", a.Op, strings.Join(a.Key, ", "), a.Reason)
}
