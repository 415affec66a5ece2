// Package measure holds the small measuring helpers the load generators share: latency
// percentiles, the most frequent error messages, and pacing a loop to a schedule.
package measure

import (
	"context"
	"sort"
	"time"
)

// Percentile is the nearest-rank p-quantile (0 < p <= 1) of sorted values; 0 for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// ErrorCount is one error message and how many operations failed with it.
type ErrorCount struct {
	Message string
	Count   int
}

// TopErrors lists the n most frequent messages of counts, most frequent first (ties by message).
func TopErrors(counts map[string]int, n int) []ErrorCount {
	out := make([]ErrorCount, 0, len(counts))
	for m, c := range counts {
		out = append(out, ErrorCount{Message: m, Count: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Message < out[j].Message
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// SleepUntil waits for t; false if ctx ended first.
func SleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
