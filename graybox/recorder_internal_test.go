package graybox

import (
	"sync"
	"testing"
	"time"

	"github.com/ghostgate/ghostgate/graybox/internal/require"
)

// fakeClock drives a Recorder's time by hand.
type fakeClock struct {
	mu sync.Mutex
	d  time.Duration
}

func (c *fakeClock) now() time.Duration  { c.mu.Lock(); defer c.mu.Unlock(); return c.d }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.d += d; c.mu.Unlock() }

func newTestRecorder(window time.Duration) (*Recorder, *fakeClock) {
	r := NewRecorder("shop.orders", window)
	c := &fakeClock{}
	r.now = c.now
	return r, c
}

func TestBucketsCoverEveryLatency(t *testing.T) {
	// Every latency falls in a bucket whose upper bound is at or above it and at most 25% above
	// (the p99's overstatement), and buckets ascend.
	for _, us := range []uint64{0, 1, 15, 16, 17, 19, 20, 31, 32, 1000, 38_000, 412_000, 1 << 29, 1<<31 - 1} {
		i := bucket(us)
		up := bucketUpper(i)
		require.True(t, up >= us, "%dµs in bucket %d up to %d", us, i, up)
		if us >= linearBuckets && us < 1<<maxExponent {
			require.True(t, float64(up) <= float64(us)*1.25+1, "%dµs: bucket up to %d is more than 25%% above", us, up)
		}
	}
	for i := 1; i < histBuckets; i++ {
		require.True(t, bucketUpper(i) > bucketUpper(i-1), "bucket %d", i)
		require.Equal(t, i, bucket(bucketUpper(i)), "the upper bound of bucket %d lies in it", i)
	}
	require.Equal(t, histBuckets-1, bucket(1<<40), "beyond the range: the last bucket")
}

func TestRecorderP99AndErrorRate(t *testing.T) {
	r, _ := newTestRecorder(5 * time.Second)
	require.False(t, r.Used())
	for i := range 990 {
		r.Observe(time.Duration(1000+i)*time.Microsecond, false) // ~1-2ms
	}
	for range 10 {
		r.Observe(400*time.Millisecond, true)
	}
	h := r.Snapshot()
	require.True(t, r.Used())
	require.Equal(t, "shop.orders", h.Table)
	require.EqualValues(t, 5000, h.WindowMillis)
	require.EqualValues(t, 1000, h.Requests)
	require.EqualValues(t, 10, h.Errors)
	require.InDelta(t, 0.01, h.ErrorRate(), 1e-9)
	// The 990th of 1000 is the slowest fast one (1.989ms): the p99 is its bucket's bound, not
	// the 400ms outliers.
	require.True(t, h.P99() >= 1989*time.Microsecond && h.P99() < 2500*time.Microsecond, "p99 %v", h.P99())
	for range 20 {
		r.Observe(400*time.Millisecond, false)
	}
	h = r.Snapshot()
	require.True(t, h.P99() >= 400*time.Millisecond && h.P99() <= 500*time.Millisecond, "p99 with 3%% slow: %v", h.P99())
}

func TestRecorderWindowSlides(t *testing.T) {
	r, clock := newTestRecorder(time.Second) // 10 slots of 100ms
	for range 50 {
		r.Observe(300*time.Millisecond, true)
	}
	clock.add(500 * time.Millisecond)
	for range 50 {
		r.Observe(time.Millisecond, false)
	}
	h := r.Snapshot()
	require.EqualValues(t, 100, h.Requests)
	require.EqualValues(t, 50, h.Errors)

	// A window later the slow, failed requests are gone; the later ones still count.
	clock.add(600 * time.Millisecond)
	h = r.Snapshot()
	require.EqualValues(t, 50, h.Requests, "the first slot left the window")
	require.Zero(t, h.Errors)
	require.True(t, h.P99() < 2*time.Millisecond, "p99 %v", h.P99())

	// A slot reused after a full turn starts from zero.
	r.Observe(time.Millisecond, false)
	clock.add(2 * time.Second)
	r.Observe(5*time.Millisecond, false)
	h = r.Snapshot()
	require.EqualValues(t, 1, h.Requests)
	require.True(t, h.P99() >= 5*time.Millisecond && h.P99() < 7*time.Millisecond, "p99 %v", h.P99())

	// Nothing for a whole window: zero requests, a zero p99.
	clock.add(2 * time.Second)
	h = r.Snapshot()
	require.Zero(t, h.Requests)
	require.Zero(t, h.P99Micros)
}

func TestRecorderNilAndNoAllocations(t *testing.T) {
	var none *Recorder
	none.Observe(time.Second, true) // a table the participant does not know: ignored
	require.False(t, none.Used())
	require.Zero(t, none.Snapshot().Requests)

	r := NewRecorder("shop.orders", 0)
	require.Equal(t, DefaultHealthWindow, r.window)
	allocs := testing.AllocsPerRun(1000, func() { r.Observe(3*time.Millisecond, false) })
	require.Zero(t, allocs, "Observe must not allocate")
}

func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder("shop.orders", 200*time.Millisecond) // slots of 20ms: reused while recording
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				r.Observe(time.Duration(i%100)*time.Microsecond, i%50 == 0)
				if i%500 == 0 {
					_ = r.Snapshot()
				}
			}
		}()
	}
	wg.Wait()
	h := r.Snapshot()
	require.True(t, h.Errors <= h.Requests && h.Requests <= 40000, "%+v", h)
}

func BenchmarkRecorderObserve(b *testing.B) {
	r := NewRecorder("shop.orders", 0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := time.Millisecond
		for pb.Next() {
			r.Observe(d, false)
		}
	})
}
