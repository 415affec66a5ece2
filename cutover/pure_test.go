package cutover

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestApprovalWindow(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	at := func(loc *time.Location, hh, mm int) time.Time { return time.Date(2025, 3, 10, hh, mm, 0, 0, loc) }
	cases := []struct {
		window string
		loc    *time.Location
		now    time.Time
		want   bool
	}{
		{"02:00-04:00", time.UTC, at(time.UTC, 3, 0), true},
		{"02:00-04:00", time.UTC, at(time.UTC, 2, 0), true},
		{"02:00-04:00", time.UTC, at(time.UTC, 4, 0), false}, // the end is exclusive
		{"02:00-04:00", time.UTC, at(time.UTC, 1, 59), false},
		{"22:00-02:00", time.UTC, at(time.UTC, 23, 30), true}, // crosses midnight
		{"22:00-02:00", time.UTC, at(time.UTC, 0, 30), true},
		{"22:00-02:00", time.UTC, at(time.UTC, 2, 30), false},
		{"22:00-02:00", time.UTC, at(time.UTC, 21, 59), false},
		{"02:00-04:00", berlin, at(time.UTC, 2, 30), true},  // 03:30 in Berlin (CET, UTC+1)
		{"02:00-04:00", berlin, at(time.UTC, 3, 30), false}, // 04:30 in Berlin
	}
	for _, c := range cases {
		a, err := ParseApproval(c.window, c.loc)
		require.NoError(t, err)
		assert.Equal(t, c.want, a.InWindow(c.now), "%s in %s at %s", c.window, c.loc, c.now)
	}
}

func TestParseApproval(t *testing.T) {
	for _, ok := range []string{"auto", "manual", "02:00-04:00", " 23:30 - 00:15 "} {
		_, err := ParseApproval(ok, nil)
		assert.NoError(t, err, ok)
	}
	for _, bad := range []string{"", "sometimes", "02:00", "02:00-02:00", "25:00-01:00", "2-4"} {
		_, err := ParseApproval(bad, nil)
		assert.ErrorIs(t, err, ErrBadApproval, bad)
	}
	a, err := ParseApproval("22:00-02:00", time.UTC)
	require.NoError(t, err)
	assert.Equal(t, "22:00-02:00 UTC", a.String())
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, Config{}.WithDefaults().Validate())
	bad := []Config{
		{Interval: -1},
		{Window: Window{MaxThreadsRunning: -1}},
		{Window: Window{MaxQPSRatio: 2, QPSBaseline: time.Second, QPSRecent: 2 * time.Second}},
		{Participants: Participants{OldVersion: "v1", NewVersion: "v1"}},
		{Approval: Approval{Mode: "sometimes"}},
		{Checksum: Checksum{ChunkSize: -5}},
		{Checksum: Checksum{ApplyTimeout: -time.Second}},
	}
	for _, c := range bad {
		assert.ErrorIs(t, c.WithDefaults().Validate(), ErrConfig, "%+v", c)
	}
}

func TestRateWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := rateWindow{baseline: 4 * time.Second, recent: time.Second}
	w.add(t0, 0)
	w.add(t0.Add(time.Second), 100)
	_, _, ok := w.rates()
	assert.False(t, ok, "no baseline yet")
	for i := 2; i <= 5; i++ { // 100 q/s steady
		w.add(t0.Add(time.Duration(i)*time.Second), float64(100*i))
	}
	recent, base, ok := w.rates()
	require.True(t, ok)
	assert.InDelta(t, 100, recent, 0.001)
	assert.InDelta(t, 100, base, 0.001)
	w.add(t0.Add(6*time.Second), 800) // a spike: 300 q/s
	recent, base, ok = w.rates()
	require.True(t, ok)
	assert.InDelta(t, 300, recent, 0.001)
	assert.InDelta(t, 100, base, 0.001)
	assert.False(t, qpsLine(&w, 2).OK)
	assert.True(t, qpsLine(&w, 3).OK)
	assert.LessOrEqual(t, len(w.samples), 7, "old samples are pruned")
	w.add(t0.Add(7*time.Second), 5) // FLUSH STATUS: start over
	_, _, ok = w.rates()
	assert.False(t, ok)
}

func TestRangeWhere(t *testing.T) {
	where, args := rangeWhere([]string{"a", "b`c"}, []any{"1", "x"}, []any{"5", "y"})
	// The first column's own bounds guarantee an index range to the locking read.
	assert.Equal(t, " WHERE `a` >= ? AND ((`a` > ?) OR (`a` = ? AND `b``c` > ?)) AND `a` <= ? AND ((`a` < ?) OR (`a` = ? AND `b``c` <= ?))", where)
	assert.Equal(t, []any{"1", "1", "1", "x", "5", "5", "5", "y"}, args)
	where, args = rangeWhere([]string{"id"}, []any{"3"}, []any{"9"})
	assert.Equal(t, " WHERE ((`id` > ?)) AND ((`id` <= ?))", where)
	assert.Equal(t, []any{"3", "9"}, args)
	where, args = rangeWhere([]string{"id"}, nil, nil)
	assert.Empty(t, where)
	assert.Empty(t, args)
	assert.Equal(t, "id in (-inf, 10]", KeyRange{Columns: []string{"id"}, To: []string{"10"}}.String())
	assert.Equal(t, "(a, b) in ((1, x), +inf)", KeyRange{Columns: []string{"a", "b"}, From: []string{"1", "x"}}.String())
}

func TestCommonColumns(t *testing.T) {
	orig := []column{{name: "id"}, {name: "Name", charset: true}, {name: "gone"}, {name: "secret"}}
	ghost := []column{{name: "id"}, {name: "name", charset: false}, {name: "added"}, {name: "secret"}}
	got := commonColumns(orig, ghost, []string{"SECRET"})
	assert.Equal(t, []column{{name: "id"}, {name: "Name", charset: true}}, got)
}

func TestChecklistSummaryAndHub(t *testing.T) {
	var h hub
	ch, stop := h.subscribe()
	cl := Checklist{Lines: []Line{{Name: LineEngine, OK: true}, {Name: LineChecksum}, {Name: LineApproval}}}
	h.publish(cl)
	h.publish(cl) // unchanged: no second message
	got := <-ch
	assert.Equal(t, "waiting for checksum, approval", got.Summary())
	assert.Equal(t, "waiting for checksum, approval", got.Waiting(nil), "no pending line: the same words")
	pending := got
	pending.Lines = append([]Line(nil), got.Lines...)
	for i := range pending.Lines {
		if pending.Lines[i].Name == LineChecksum {
			pending.Lines[i].Pending = true
		}
	}
	assert.Equal(t, "waiting for approval; then checksum", pending.Waiting(nil))
	assert.Equal(t, "waiting for APPROVAL; then CHECKSUM", pending.Waiting(strings.ToUpper))
	assert.Len(t, got.Failing(), 2)
	select {
	case <-ch:
		t.Fatal("an unchanged checklist was published again")
	default:
	}
	cl2 := Checklist{Lines: []Line{{Name: LineEngine, OK: true}}}
	h.publish(cl)
	h.publish(cl2) // a change is published
	assert.True(t, (<-ch).OK())
	stop()
	_, open := <-ch
	assert.False(t, open)
	assert.False(t, Checklist{}.OK(), "an empty checklist never opens the gate")
}
