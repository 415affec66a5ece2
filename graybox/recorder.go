package graybox

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
)

// DefaultHealthWindow is the span a Recorder's figures cover when Config.HealthWindow is 0. It
// is short so that a p99 that rose with a migration's copy falls again soon after the copy is
// held: the throttler resumes once the slow requests have left the window (issue 12).
const DefaultHealthWindow = 5 * time.Second

// The histogram: latencies in microseconds, 16 linear buckets below 16µs, then 4 buckets per
// power of two up to 2^30µs (~18 minutes; longer ones count in the last bucket). A bucket's
// upper bound is at most 25% above its lower bound, which bounds the p99's overstatement.
const (
	linearBuckets = 16
	subBuckets    = 4 // per power of two: the 2 bits after the leading one
	maxExponent   = 30
	histBuckets   = linearBuckets + (maxExponent-4+1)*subBuckets
	slots         = 10 // the window is cut into this many slots; the oldest is dropped as a whole
)

// bucket is the histogram index of a latency of us microseconds.
func bucket(us uint64) int {
	if us < linearBuckets {
		return int(us)
	}
	e := bits.Len64(us) - 1 // us in [2^e, 2^(e+1)), e >= 4
	if e > maxExponent {
		return histBuckets - 1
	}
	sub := int(us>>(e-2)) & (subBuckets - 1)
	return linearBuckets + (e-4)*subBuckets + sub
}

// bucketUpper is the largest latency (µs) bucket i holds.
func bucketUpper(i int) uint64 {
	if i < linearBuckets {
		return uint64(i)
	}
	e := (i-linearBuckets)/subBuckets + 4
	sub := uint64((i - linearBuckets) % subBuckets)
	return (subBuckets+sub+1)<<(e-2) - 1
}

// slot holds the figures of one slice of the window. epoch is the slice's number since the
// recorder started; a slot whose epoch is out of the window is stale and reset on first use.
type slot struct {
	epoch    atomic.Int64
	requests atomic.Uint64
	errors   atomic.Uint64
	hist     [histBuckets]atomic.Uint64
}

// Recorder counts one table's requests, their failures and their latencies over a sliding
// window, for the participant's health reports. Observe is cheap enough for every request: a
// few atomic adds, no lock (except once per slot of the window, when the slot is reused) and no
// allocation. A nil *Recorder ignores everything, so a service may hold one for a table the
// participant does not know. Safe for concurrent use.
type Recorder struct {
	table  string
	window time.Duration
	slot   time.Duration
	start  time.Time
	now    func() time.Duration // time since start; replaced in tests
	used   atomic.Bool          // something was observed: the table is reported from then on
	mu     sync.Mutex           // serializes the reset of a reused slot
	slots  [slots]slot
}

// NewRecorder returns a Recorder for table ("schema.table") over window (DefaultHealthWindow
// when 0 or less). A Participant makes one for each of its tables (Participant.Recorder).
func NewRecorder(table string, window time.Duration) *Recorder {
	if window <= 0 {
		window = DefaultHealthWindow
	}
	r := &Recorder{table: table, window: window, slot: max(window/slots, time.Millisecond), start: time.Now()}
	r.now = func() time.Duration { return time.Since(r.start) } // monotonic
	for i := range r.slots {
		r.slots[i].epoch.Store(-1)
	}
	return r
}

// Observe records one request of latency d; failed says whether it counts as an error (the
// service decides: a 5xx, a timeout, a failed query — not a client's 4xx).
func (r *Recorder) Observe(d time.Duration, failed bool) {
	if r == nil {
		return
	}
	e := int64(r.now() / r.slot)
	s := &r.slots[e%slots]
	if cur := s.epoch.Load(); cur != e {
		if cur > e {
			return // a caller stalled for a whole window: its figure is too old to count
		}
		r.reuse(s, e)
	}
	s.requests.Add(1)
	if failed {
		s.errors.Add(1)
	}
	us := max(d.Microseconds(), 0)
	s.hist[bucket(uint64(us))].Add(1)
	if !r.used.Load() {
		r.used.Store(true)
	}
}

// reuse resets slot s for epoch e, once however many callers arrive at the same time.
func (r *Recorder) reuse(s *slot, e int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.epoch.Load() >= e {
		return
	}
	s.requests.Store(0)
	s.errors.Store(0)
	for i := range s.hist {
		s.hist[i].Store(0)
	}
	s.epoch.Store(e)
}

// Snapshot returns the figures of the window that ends now. Requests observed while it reads
// may or may not be counted.
func (r *Recorder) Snapshot() wire.TableHealth {
	if r == nil {
		return wire.TableHealth{}
	}
	out := wire.TableHealth{Table: r.table, WindowMillis: r.window.Milliseconds()}
	e := int64(r.now() / r.slot)
	var hist [histBuckets]uint64
	for i := range r.slots {
		s := &r.slots[i]
		if ep := s.epoch.Load(); ep < 0 || ep <= e-slots || ep > e {
			continue
		}
		out.Requests += int64(s.requests.Load())
		out.Errors += int64(s.errors.Load())
		for b := range hist {
			hist[b] += s.hist[b].Load()
		}
	}
	out.Errors = min(out.Errors, out.Requests) // read while requests were being added
	out.P99Micros = int64(quantile(&hist, 0.99))
	return out
}

// quantile is the upper bound of the bucket that holds the q-th of the counted latencies.
func quantile(hist *[histBuckets]uint64, q float64) uint64 {
	var total uint64
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := uint64(float64(total)*q + 0.999999) // ceil, without a float compare on exact values
	rank = min(max(rank, 1), total)
	var seen uint64
	for i, n := range hist {
		if seen += n; seen >= rank {
			return bucketUpper(i)
		}
	}
	return bucketUpper(histBuckets - 1)
}

// Used reports whether anything was ever observed: only such tables are reported, so that a
// service that records nothing is no health input at all.
func (r *Recorder) Used() bool { return r != nil && r.used.Load() }
