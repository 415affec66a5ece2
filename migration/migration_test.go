package migration

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestCheckTransition(t *testing.T) {
	cases := []struct {
		from, to Status
		ok       bool
	}{
		{StatusQueued, StatusPlanning, true},
		{StatusPlanning, StatusRunning, true},
		{StatusRunning, StatusReady, true},
		{StatusRunning, StatusComplete, true},
		{StatusReady, StatusCuttingOver, true},
		{StatusCuttingOver, StatusComplete, true},
		{StatusCuttingOver, StatusReady, true},
		{StatusRunning, StatusFailed, true},
		{StatusReady, StatusCancelled, true},
		{StatusQueued, StatusRunning, false},
		{StatusQueued, StatusComplete, false},
		{StatusComplete, StatusFailed, false},
		{StatusCancelled, StatusRunning, false},
		{StatusFailed, StatusFailed, false},
		{Status("bogus"), StatusRunning, false},
		{StatusRunning, Status("bogus"), false},
	}
	for _, c := range cases {
		err := CheckTransition(c.from, c.to)
		if (err == nil) != c.ok {
			t.Errorf("%s → %s: err=%v, want ok=%v", c.from, c.to, err, c.ok)
		}
		var te *TransitionError
		if err != nil && !errors.As(err, &te) {
			t.Errorf("%s → %s: error %T is not a *TransitionError", c.from, c.to, err)
		}
	}
}

func TestClampRatio(t *testing.T) {
	cases := []struct {
		copied, est int64
		want        float64
	}{
		{0, 100, 0}, {50, 100, 0.5}, {100, 100, 1}, {2434000, 650557, 1}, {10, 0, 0}, {-1, 5, 0},
	}
	for _, c := range cases {
		if got := ClampRatio(c.copied, c.est); got != c.want {
			t.Errorf("ClampRatio(%d, %d) = %v, want %v", c.copied, c.est, got, c.want)
		}
	}
}

func TestCheckNiceRatio(t *testing.T) {
	for _, r := range []float64{0, 0.5, 4, MaxNiceRatio} {
		if err := CheckNiceRatio(r); err != nil {
			t.Errorf("CheckNiceRatio(%v) = %v, want nil", r, err)
		}
	}
	for _, r := range []float64{-0.1, MaxNiceRatio + 0.5, math.NaN(), math.Inf(1)} {
		if err := CheckNiceRatio(r); err == nil || !strings.Contains(err.Error(), "must be 0-100") {
			t.Errorf("CheckNiceRatio(%v) = %v, want the range named", r, err)
		}
	}
}
