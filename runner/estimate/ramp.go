package estimate

import (
	"math"
	"time"

	"github.com/ghostgate/ghostgate/runner/chunk"
)

// Why a ramp model: time-sized chunks (runner/chunk) start small and double while a chunk takes
// well under its target, and a chunk costs a fixed overhead (the range query, the statement's
// round trips, the binlog event) plus a time per row, so the copy's rate rises with the chunk
// size for its first seconds. An ETA from the rate seen so far is then too long: on the sandbox,
// +27–60% at 10% progress for 4M-row copies of under 30 s (BENCHMARKS.md). The model fits
//
//	chunk time t(s) = a + b·s   (a: overhead per chunk, b: time per row)
//
// to the rate measured at each chunk size (rate(s) = s / t(s), so 1/rate = a·(1/s) + b, a straight
// line), and while the chunks are still growing projects the rest of the copy: the chunker's own
// rule (chunk.Growth, while under 80% of the target) applied once per
// observed growth step, then the steady size's rate for the rows left. Once the chunks stop
// growing (the target is reached, or throttles and lock waits hold them), the projection is off
// and the ETA is the smoothed rate's, as before. It is opt-in (Config.Ramp): see there why.
type ramp struct {
	target time.Duration // the chunker's target chunk time
	max    int64         // the chunker's largest size

	rows    map[int64]float64 // rows copied at each chunk size, intervals not held
	seconds map[int64]float64 // and the time they took
	size    int64             // the size of the last interval
	grown   bool              // the size changed since the copy began
	fresh   bool              // the last interval was the first at its size (a mix of two sizes)

	grewAt time.Time     // the end of the last interval at a larger size than the one before
	step   time.Duration // smoothed time between growth steps
}

func newRamp(target time.Duration, maxSize int64) *ramp {
	return &ramp{target: target, max: maxSize, rows: map[int64]float64{}, seconds: map[int64]float64{}}
}

// observe adds one interval not held: rows copied in dt at chunk size size, ending at end.
func (r *ramp) observe(size, rows int64, dt time.Duration, end time.Time) {
	if size <= 0 {
		return
	}
	if size != r.size {
		if r.size > 0 && size > r.size {
			if !r.grewAt.IsZero() {
				gap := end.Sub(r.grewAt)
				if r.step == 0 {
					r.step = gap
				} else {
					r.step = (r.step + gap) / 2
				}
			}
			r.grewAt = end
		}
		r.grown = r.grown || r.size > 0
		r.size, r.fresh = size, true
		return // the interval a resize takes effect in mixes the old chunk and the new
	}
	r.fresh = false
	if !r.grown {
		// The starting size's intervals hold gh-ost's start: its first chunk came late, and the
		// sandbox's traces showed a fifth of the next size's rate there, which bent the fit.
		return
	}
	r.rows[size] += float64(rows)
	r.seconds[size] += dt.Seconds()
}

// fit returns a and b (seconds per chunk, seconds per row) by least squares of 1/rate on 1/size,
// weighted by the time measured at each size; ok is false with fewer than two sizes measured.
func (r *ramp) fit() (a, b float64, ok bool) {
	var sw, sx, sy, sxx, sxy float64
	n := 0
	for s, secs := range r.seconds {
		rows := r.rows[s]
		if secs <= 0 || rows <= 0 {
			continue
		}
		x, y, w := 1/float64(s), secs/rows, secs
		sw, sx, sy, sxx, sxy = sw+w, sx+w*x, sy+w*y, sxx+w*x*x, sxy+w*x*y
		n++
	}
	den := sw*sxx - sx*sx
	if n < 2 || den <= 0 {
		return 0, 0, false
	}
	a = (sw*sxy - sx*sy) / den
	b = (sy - a*sx) / sw
	if a <= 0 || b <= 0 || math.IsNaN(a+b) {
		return 0, 0, false // the rate does not rise with the size here: nothing to project
	}
	return a, b, true
}

// growing says whether the chunks are still growing at now: a growth step within the last two
// steps' time (at least 2 s), and room left below the target and the largest size.
func (r *ramp) growing(now time.Time, a, b float64) bool {
	if r.grewAt.IsZero() || r.size >= r.max {
		return false
	}
	window := max(2*r.step, 2*time.Second)
	return now.Sub(r.grewAt) <= window && a+b*float64(r.size) < 0.8*r.target.Seconds()
}

// project is the expected time to copy remaining rows from now if the chunks keep growing by the
// chunker's rule; ok is false when they are not growing or the model has too little to go on.
func (r *ramp) project(now time.Time, remaining int64) (time.Duration, bool) {
	a, b, ok := r.fit()
	if !ok || remaining <= 0 || !r.growing(now, a, b) {
		return 0, false
	}
	step := r.step
	if step <= 0 {
		step = time.Second
	}
	target := r.target.Seconds()
	s, left, secs := float64(r.size), float64(remaining), 0.0
	for i := 0; i < 32; i++ {
		t := a + b*s
		rate := s / t
		if t >= 0.8*target || s >= float64(r.max) {
			break // the steady size: the rest goes at its rate
		}
		if left <= rate*step.Seconds() {
			return time.Duration((secs + left/rate) * float64(time.Second)), true
		}
		left -= rate * step.Seconds()
		secs += step.Seconds()
		s = min(s*chunk.Growth(r.target, time.Duration(t*float64(time.Second))), float64(r.max))
	}
	secs += left / (s / (a + b*s))
	return time.Duration(secs * float64(time.Second)), true
}
