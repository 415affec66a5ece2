package loadclient

import (
	"fmt"
	"github.com/ghostgate/ghostgate/internal/measure"
	"slices"
	"strings"
	"time"
)

// Kind classifies a request's outcome.
type Kind string

// The outcomes. Everything but KindOK and KindShed is a failure.
const (
	KindOK         Kind = "ok"
	KindShed       Kind = "shed"       // 429 to a write: deliberate, during a cut-over
	KindServer     Kind = "server"     // 5xx
	KindConn       Kind = "conn"       // no answer: connection refused or reset, timeout
	KindUnexpected Kind = "unexpected" // another status (400, 409, a 429 to a read, …)
	KindMismatch   Kind = "mismatch"   // the answer contradicts the model (a wrong read, a 404 for a row that exists)
)

// FailureKinds lists the failure kinds in a stable order.
var FailureKinds = []Kind{KindServer, KindConn, KindUnexpected, KindMismatch}

// Latency summarises request latencies (failures included).
type Latency struct {
	Count         int
	P50, P99, Max time.Duration
}

func (l Latency) String() string {
	return fmt.Sprintf("n=%d p50=%s p99=%s max=%s", l.Count, l.P50, l.P99, l.Max)
}

// OpStats is what one operation measured.
type OpStats struct {
	Latency
	Outcomes map[Kind]int
}

// Result is what a run measured, and the model to verify the table against.
type Result struct {
	Elapsed  time.Duration
	Requests int
	Outcomes map[Kind]int // by kind, over all operations
	ByOp     map[Op]OpStats
	ByTarget map[string]int // requests sent to each target
	Latency  Latency
	// Errors holds up to 10 distinct failure messages with their counts, most frequent first.
	Errors []ErrorCount
	Model  *Model
}

// ErrorCount is one error message and how many operations failed with it.
type ErrorCount = measure.ErrorCount

// Shed is the number of deliberate 429s.
func (r Result) Shed() int { return r.Outcomes[KindShed] }

// Failures is the number of failed requests of every kind but the deliberate 429s.
func (r Result) Failures() int {
	n := 0
	for _, k := range FailureKinds {
		n += r.Outcomes[k]
	}
	return n
}

// String is a short summary.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests in %s: %d failed, %d shed (429); %s", r.Requests,
		r.Elapsed.Round(time.Millisecond), r.Failures(), r.Shed(), r.Latency)
	for _, k := range FailureKinds {
		if n := r.Outcomes[k]; n > 0 {
			fmt.Fprintf(&b, "; %s=%d", k, n)
		}
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "\n  %dx %s", e.Count, e.Message)
	}
	return b.String()
}

// sample is one request.
type sample struct {
	op   Op
	kind Kind
	dur  time.Duration
}

// recorder belongs to one worker.
type recorder struct {
	samples  []sample
	targets  map[string]int
	messages map[string]int
}

func newRecorder() *recorder {
	return &recorder{targets: map[string]int{}, messages: map[string]int{}}
}

func (r *recorder) add(op Op, target string, kind Kind, dur time.Duration, msg string) {
	r.samples = append(r.samples, sample{op: op, kind: kind, dur: dur})
	r.targets[target]++
	if kind != KindOK && kind != KindShed {
		r.messages[fmt.Sprintf("%s %s: %s", op, kind, msg)]++
	}
}

func summarize(recs []*recorder, elapsed time.Duration) Result {
	res := Result{Elapsed: elapsed, Outcomes: map[Kind]int{}, ByOp: map[Op]OpStats{}, ByTarget: map[string]int{}}
	var all []sample
	msgs := map[string]int{}
	for _, r := range recs {
		all = append(all, r.samples...)
		for t, n := range r.targets {
			res.ByTarget[t] += n
		}
		for m, n := range r.messages {
			msgs[m] += n
		}
	}
	res.Requests = len(all)
	res.Latency = latency(all)
	byOp := map[Op][]sample{}
	for _, s := range all {
		res.Outcomes[s.kind]++
		byOp[s.op] = append(byOp[s.op], s)
	}
	for op, ss := range byOp {
		st := OpStats{Latency: latency(ss), Outcomes: map[Kind]int{}}
		for _, s := range ss {
			st.Outcomes[s.kind]++
		}
		res.ByOp[op] = st
	}
	res.Errors = measure.TopErrors(msgs, 10)
	return res
}

func latency(ss []sample) Latency {
	l := Latency{Count: len(ss)}
	if len(ss) == 0 {
		return l
	}
	d := make([]time.Duration, len(ss))
	for i, s := range ss {
		d[i] = s.dur
	}
	slices.Sort(d)
	l.P50, l.P99, l.Max = measure.Percentile(d, 0.50), measure.Percentile(d, 0.99), d[len(d)-1]
	return l
}
