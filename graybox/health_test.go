package graybox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ghostgate/ghostgate/graybox/internal/require"

	"github.com/ghostgate/ghostgate/graybox"
	"github.com/ghostgate/ghostgate/graybox/wire"
)

func TestReadiness(t *testing.T) {
	yes := func() bool { return true }
	no := func() bool { return false }
	tests := []struct {
		name   string
		r      graybox.Readiness
		code   int
		status string
	}{
		{"idle", graybox.Readiness{Migrating: no, ReportMigrating: true}, 200, graybox.StatusOK},
		{"migrating, opted in", graybox.Readiness{Migrating: yes, ReportMigrating: true}, 503, graybox.StatusMigrating},
		{"migrating, not opted in", graybox.Readiness{Migrating: yes}, 200, graybox.StatusOK},
		{"no source", graybox.Readiness{ReportMigrating: true}, 200, graybox.StatusOK},
		{"own check fails", graybox.Readiness{Migrating: no, Check: func(context.Context) error { return errors.New("db down") }}, 503, graybox.StatusUnavailable},
		{"own check passes", graybox.Readiness{Check: func(context.Context) error { return nil }}, 200, graybox.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.r.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			require.Equal(t, tt.code, rec.Code)
			var body struct{ Status string }
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			require.Equal(t, tt.status, body.Status)
		})
	}
}

// TestReadinessFollowsParticipant drives a real participant through prepare and commit.
func TestReadinessFollowsParticipant(t *testing.T) {
	c := newController(t, secret, 10*time.Second)
	in := start(t, c, "i-1", wire.ModeHTTP, nil)
	h := graybox.Readiness{Migrating: in.p.Migrating, ReportMigrating: true}
	code := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code
	}
	require.Equal(t, 200, code())
	require.True(t, c.deliverHTTP(t, "i-1", phaseReq("m1", wire.PhasePrepare, 1, 5*time.Second)).Ready)
	require.Equal(t, 503, code())
	require.True(t, c.deliverHTTP(t, "i-1", phaseReq("m1", wire.PhaseCommit, 1, 5*time.Second)).Ready)
	require.Equal(t, 200, code())
}

func TestShedWrites(t *testing.T) {
	var sw graybox.Switch
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	tests := []struct {
		name       string
		shed       bool
		method     string
		retryAfter time.Duration
		code       int
		header     string
	}{
		{"read passes while shedding", true, "GET", 0, 204, ""},
		{"head passes", true, "HEAD", 0, 204, ""},
		{"options passes", true, "OPTIONS", 0, 204, ""},
		{"post shed", true, "POST", 0, 429, "1"},
		{"put shed, rounded up", true, "PUT", 1500 * time.Millisecond, 429, "2"},
		{"delete shed", true, "DELETE", 3 * time.Second, 429, "3"},
		{"patch shed", true, "PATCH", 0, 429, "1"},
		{"post passes when not shedding", false, "POST", 0, 204, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sw.Set(tt.shed)
			rec := httptest.NewRecorder()
			graybox.ShedWrites(sw.On, tt.retryAfter, ok).ServeHTTP(rec, httptest.NewRequest(tt.method, "/orders", nil))
			require.Equal(t, tt.code, rec.Code)
			require.Equal(t, tt.header, rec.Header().Get("Retry-After"))
		})
	}
}

func TestShedWritesCounted(t *testing.T) {
	var sw graybox.Switch
	var stats graybox.ShedStats
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := graybox.ShedWritesCounted(sw.On, 0, &stats, ok)
	do := func(method string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, "/orders", nil))
		return rec.Code
	}
	require.Equal(t, 204, do("POST"))
	sw.Set(true)
	require.Equal(t, 429, do("POST"))
	require.Equal(t, 204, do("GET"), "reads are neither shed nor counted")
	time.Sleep(20 * time.Millisecond)
	require.Equal(t, 429, do("DELETE"))
	snap := stats.Snapshot()
	require.Equal(t, int64(2), snap.Shed)
	require.Equal(t, int64(1), snap.Passed)
	require.GreaterOrEqual(t, snap.Shedding, 20*time.Millisecond, "shedding since the first 429 of the run")
	require.GreaterOrEqual(t, snap.Longest, 20*time.Millisecond)
	sw.Set(false)
	require.Equal(t, 204, do("PUT"))
	snap = stats.Snapshot()
	require.Zero(t, snap.Shedding, "a write passed: the run ended")
	require.GreaterOrEqual(t, snap.Longest, 20*time.Millisecond, "the longest run is kept")
	rec := httptest.NewRecorder()
	sw.Set(true)
	graybox.ShedWritesCounted(sw.On, 0, nil, ok).ServeHTTP(rec, httptest.NewRequest("POST", "/orders", nil))
	require.Equal(t, 429, rec.Code, "nil stats: sheds, counts nothing")
}

func TestRolloutBucketStable(t *testing.T) {
	// Pinned values (computed independently: first 8 bytes of sha256(salt \x00 key), big endian,
	// mod 10000): buckets must not change between releases, or users would flip versions.
	require.Equal(t, 4949, graybox.Bucket("m1", "user-1"))
	require.Equal(t, 5056, graybox.Bucket("orders", "42"))
	require.NotEqual(t, graybox.Bucket("ab", "c"), graybox.Bucket("a", "bc"))
	for i := range 1000 {
		b := graybox.Bucket("salt", fmt.Sprint(i))
		require.True(t, b >= 0 && b < graybox.Buckets)
	}
}

func TestRolloutDistribution(t *testing.T) {
	const keys = 20_000
	r := graybox.NewRollout("m42")
	for _, pct := range []float64{1, 10, 25, 50, 90} {
		require.NoError(t, r.SetPercent(pct))
		in := 0
		for i := range keys {
			if r.UseNew(fmt.Sprintf("user-%d", i)) {
				in++
			}
		}
		got := float64(in) * 100 / keys
		// Binomial standard deviation at 20k keys is at most 0.35 points; allow ~4 sigma.
		require.InDelta(t, pct, got, 1.5, "at %v%%", pct)
	}
}

func TestRolloutMonotonic(t *testing.T) {
	r := graybox.NewRollout("orders")
	moved := map[string]bool{}
	for _, pct := range []float64{0, 5, 12.5, 30, 30, 60, 99.99, 100} {
		require.NoError(t, r.SetPercent(pct))
		require.InDelta(t, pct, r.Percent(), 0.005)
		now := 0
		for i := range 5000 {
			k := fmt.Sprint(i)
			use := r.UseNew(k)
			if moved[k] {
				require.True(t, use, "key %s moved back at %v%%", k, pct)
			}
			if use {
				moved[k] = true
				now++
			}
		}
		if pct == 0 {
			require.Zero(t, now)
		}
		if pct == 100 {
			require.Equal(t, 5000, now)
		}
	}
}

func TestRolloutSaltsDiffer(t *testing.T) {
	a, b := graybox.NewRollout("m1"), graybox.NewRollout("m2")
	require.NoError(t, a.SetPercent(10))
	require.NoError(t, b.SetPercent(10))
	same := 0
	for i := range 2000 {
		k := fmt.Sprint(i)
		if a.UseNew(k) && b.UseNew(k) {
			same++
		}
	}
	// Independent 10% samples overlap in about 1% of keys (20 here), not 10% (200).
	require.Less(t, same, 60)
}

func TestRolloutSetPercentRange(t *testing.T) {
	r := graybox.NewRollout("x")
	for _, bad := range []float64{-1, 100.01, math.NaN(), math.Inf(1)} {
		require.Error(t, r.SetPercent(bad), "%v", bad)
	}
	require.Zero(t, r.Percent())
}
