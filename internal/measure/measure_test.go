package measure

import (
	"context"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, x := range n {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	cases := []struct {
		vals []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 0.99, 0},
		{ms(5), 0.5, 5 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.99, 4 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.9, 9 * time.Millisecond},
		{ms(1, 2, 3), 0.5, 2 * time.Millisecond},
		{seq(100), 0.99, 99 * time.Millisecond},
		{seq(1000), 0.99, 990 * time.Millisecond},
	}
	for _, c := range cases {
		if got := Percentile(c.vals, c.p); got != c.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", c.vals, c.p, got, c.want)
		}
	}
}

func seq(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}

func TestTopErrors(t *testing.T) {
	got := TopErrors(map[string]int{"b": 2, "a": 2, "c": 5, "d": 1}, 3)
	want := []ErrorCount{{"c", 5}, {"a", 2}, {"b", 2}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %v, want %v", got, want)
		}
	}
}

func TestSleepUntil(t *testing.T) {
	if !SleepUntil(context.Background(), time.Now().Add(5*time.Millisecond)) {
		t.Error("a plain wait ends true")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if SleepUntil(ctx, time.Now().Add(time.Hour)) {
		t.Error("a cancelled wait ends false")
	}
}
