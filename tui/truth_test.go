package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/migration"
)

// Tests of what issue 13 found untrue or missing on the screens.

// manyViews are n migrations created a minute apart, oldest first as the API's store reads
// them, all ended but one at the gate: the oldest.
func manyViews(n int) []client.MigrationView {
	out := make([]client.MigrationView, n)
	for i := range out {
		v := baseView()
		v.ID = fmt.Sprintf("01JTB6W00000000000000%04d", i)
		v.Table = fmt.Sprintf("t%02d", i)
		v.CreatedAt = fixedNow.Add(time.Duration(i-n) * time.Minute)
		v.Status, v.Live = migration.StatusComplete, false
		v.FinishedAt = v.CreatedAt.Add(30 * time.Second)
		out[i] = v
	}
	out[0].Status, out[0].Live = migration.StatusReady, true
	return out
}

func listModel(t *testing.T, views []client.MigrationView, w, h int) (Model, *fakeAPI) {
	t.Helper()
	f := &fakeAPI{views: views}
	return update(t, New(f, testOptions("")), tea.WindowSizeMsg{Width: w, Height: h}, listMsg{views: views}), f
}

func TestListPinsWhatNeedsActionThenNewestFirst(t *testing.T) {
	m, _ := listModel(t, manyViews(26), 80, 24)
	lines := strings.Split(m.View(), "\n")
	assert.Contains(t, lines[2], "shop.t00", "the migration at the gate is the first row, though it is the oldest")
	assert.Contains(t, lines[2], "at the gate")
	assert.Contains(t, lines[3], "shop.t25", "then newest first")
	assert.Contains(t, lines[4], "shop.t24")
	v, ok := m.list.Selected()
	require.True(t, ok)
	assert.Equal(t, "t00", v.Table, "the cursor starts on the first row")
	assert.Contains(t, lines[0], "26 migrations · rows 1-20 ↓6 more", "a scroll indicator")
}

func TestListJumpsAndScrolls(t *testing.T) {
	m, _ := listModel(t, manyViews(26), 80, 24)
	m, _ = press(t, m, "G")
	v, _ := m.list.Selected()
	assert.Equal(t, "t01", v.Table, "G: the last row (the oldest ended migration)")
	assert.Contains(t, m.View(), "rows 7-26 ↑")
	m = update(t, m, tea.KeyMsg{Type: tea.KeyHome})
	v, _ = m.list.Selected()
	assert.Equal(t, "t00", v.Table)
	m = update(t, m, tea.KeyMsg{Type: tea.KeyEnd})
	v, _ = m.list.Selected()
	assert.Equal(t, "t01", v.Table, "End too")
	m, _ = press(t, m, "g")
	v, _ = m.list.Selected()
	assert.Equal(t, "t00", v.Table, "g: the first row")
	m = update(t, m, tea.KeyMsg{Type: tea.KeyPgDown})
	v, _ = m.list.Selected()
	assert.Equal(t, "t06", v.Table, "a page is the 20 rows that fit")
}

func TestListFilter(t *testing.T) {
	m, _ := listModel(t, listViews(), 80, 24)
	m, _ = press(t, m, "/", "i", "t", "e", "m", "s")
	assert.True(t, m.list.Filtering())
	assert.Contains(t, m.View(), "1 of 5 match /items▏")
	m, _ = press(t, m, "q") // typed into the filter, not a quit
	assert.Contains(t, m.View(), "0 of 5 match /itemsq")
	assert.Contains(t, m.View(), "no migration matches the filter")
	m, _ = press(t, m, "backspace", "enter")
	assert.False(t, m.list.Filtering())
	v, ok := m.list.Selected()
	require.True(t, ok)
	assert.Equal(t, "order_items", v.Table)
	m, _ = press(t, m, "esc") // on the list: clears the filter
	assert.Contains(t, m.View(), "5 migrations")
	m, _ = press(t, m, "/", "R", "U", "N", "N", "I", "N", "G", " ", "orders", "enter")
	assert.Contains(t, m.View(), "1 of 5 match /RUNNING orders", "every word, case-insensitively")
	m, _ = press(t, m, "/", "esc") // in the filter: clears it
	assert.Contains(t, m.View(), "5 migrations")
}

func TestInterruptedOffersOnlyWhatWorks(t *testing.T) {
	m, f := detailModel(t, interruptedView(), testOptions(ordersID))
	view := m.View()
	assert.Contains(t, view, "interrupted (was ready)")
	assert.NotContains(t, view, "waiting at the gate")
	assert.Contains(t, view, "  migrate cleanup --migration "+ordersID, "the cleanup command whole, on its own line")
	help := lastLine(view)
	for _, k := range []string{"p pause", "s chunk", "a approve", "x cancel", "e evict"} {
		assert.NotContains(t, help, k)
	}
	for _, k := range []string{"p", "s", "a", "x"} {
		var cmd tea.Cmd
		m, cmd = press(t, m, k)
		assert.Nil(t, cmd, k)
		assert.False(t, m.ask.active(), k)
		assert.True(t, m.status.err, k)
		assert.Contains(t, m.View(), "interrupted, its controller is gone: clean up", k)
	}
	assert.Empty(t, f.actions(), "no call that could only answer 409")
}

func TestActionsFollowTheState(t *testing.T) {
	paused := copyingView()
	paused.Paused = true
	auto := gateFreshView()
	auto.Approval = "auto"
	native := copyingView()
	native.Strategy, native.Approval = "inplace", ""
	cases := []struct {
		name      string
		view      client.MigrationView
		has, lack []string
	}{
		{"copying", copyingView(), []string{"p pause", "s chunk", "a approve", "x cancel"}, nil},
		{"paused", paused, []string{"p resume"}, []string{"p pause"}},
		{"at the gate", gateFreshView(), []string{"a approve", "x cancel"}, []string{"s chunk"}},
		{"auto approval", auto, []string{"x cancel"}, []string{"a approve"}},
		{"native", native, []string{"p pause", "x cancel"}, []string{"a approve", "s chunk"}},
		{"done", doneView(), nil, []string{"p pause", "x cancel", "a approve", "e evict"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, _ := detailModel(t, c.view, testOptions(ordersID))
			help := lastLine(m.View())
			for _, k := range c.has {
				assert.Contains(t, help, k)
			}
			for _, k := range c.lack {
				assert.NotContains(t, help, k)
			}
		})
	}
}

func TestChunkPromptShowsTheCurrentValue(t *testing.T) {
	v := copyingView()
	v.ChunkSize = 2500
	m, _ := detailModel(t, v, testOptions(ordersID))
	m, _ = press(t, m, "s")
	assert.Contains(t, m.View(), "chunk size of shop.orders (rows, now 2,500; enter applies, esc keeps):")
}

func TestGateBeforeApprovalIsTruthful(t *testing.T) {
	m, _ := detailModel(t, gateFreshView(), testOptions(ordersID))
	view := m.View()
	assert.Contains(t, view, "… checksum     running: 212 chunks")
	assert.Contains(t, view, "… participants not asked yet")
	assert.NotContains(t, view, "✗ checksum")
	assert.NotContains(t, view, "✗ participants")
	assert.Contains(t, view, "gate  waiting for transactions, approval; then checksum, participants")
	rows := 0
	for _, l := range strings.Split(view, "\n") {
		if strings.Contains(l, "orders-api") && strings.Contains(l, "not asked yet") {
			rows++
		}
	}
	assert.Equal(t, 2, rows, "each participant row says it")
}

func TestCancelledGateIsHistory(t *testing.T) {
	m := detailAt(t, cancelledView(), 8, 80, 24, cancelEvents()...)
	view := m.View()
	assert.Contains(t, view, "gate  closed: cancelled · it was waiting for transactions")
	assert.NotContains(t, view, "context canceled")
	assert.NotContains(t, view, "running: 212", "no checksum claims to run after the cancel")
	assert.NotContains(t, view, "not asked yet", "nobody will be asked")
	assert.Contains(t, view, "12:00:01 participant_phase abort sent", "event kinds are never cut")
}

func TestParticipantNamesWholeAt120(t *testing.T) {
	v := gateFreshView()
	v.Participants = append(v.Participants, wire.ParticipantStatus{Service: "shop-signal-consumer",
		InstanceID: "shop-signal-consumer-7f9c6d8b5-x2x9q", Host: "ip-10-42-17-203.eu-west-1",
		Mode: wire.ModeSignal, LastBeat: fixedNow.Add(-time.Second), Live: true})
	m, _ := detailModel(t, v, testOptions(ordersID))
	m, _ = press(t, m, "tab", "tab") // the third participant is shown with the first two
	m = update(t, m, tea.WindowSizeMsg{Width: 120, Height: 40})
	view := m.View()
	assert.Contains(t, view, "SERVICE")
	assert.Contains(t, view, "HEARTBEAT")
	assert.Contains(t, view, "shop-signal-consumer shop-signal-consumer-7f9c6d8b5-x2x9q ip-10-42-17-203.eu-west-1")
	m = update(t, m, tea.WindowSizeMsg{Width: 80, Height: 40})
	for _, l := range strings.Split(m.View(), "\n") {
		assert.LessOrEqual(t, len([]rune(l)), 80, l)
		if strings.Contains(l, "shop-signal") {
			assert.Contains(t, l, "not asked yet", "cut names leave the answer whole: %q", l)
		}
	}
}

func TestDoneScreenHasLockTimeAndOldTable(t *testing.T) {
	m := detailAt(t, doneView(), 8, 120, 40, doneEvents()...)
	view := m.View()
	assert.Contains(t, view, "cut-over 182ms (table locked 41ms)")
	assert.Contains(t, view, "\noriginal table kept as shop._orders_20260501120003_del ")
	assert.NotContains(t, view, "rename it back", "revert is the undo, not a hand rename")
	assert.Contains(t, view, "r reverts: replays the writes made since")
	assert.Contains(t, lastLine(view), "r revert", "the help bar offers the revert")
}

// TestRevertClosedSaysWhy: a completed migration whose revert window closed offers no revert key,
// and pressing it says why instead of calling the API for a 409.
func TestRevertClosedSaysWhy(t *testing.T) {
	v := doneView()
	v.Revert.Open, v.Revert.Reason = false, "the binlogs were purged past the cut-over's checkpoint"
	m, f := detailModel(t, v, testOptions(ordersID))
	view := m.View()
	assert.Contains(t, view, "revert not possible: the binlogs were purged past the cut-over's checkpoint")
	assert.NotContains(t, lastLine(view), "revert")
	m, cmd := press(t, m, "r")
	assert.Nil(t, cmd)
	assert.Empty(t, f.actions())
	assert.True(t, m.status.err)
	assert.Contains(t, m.status.text, "revert not possible: the binlogs were purged")
}

func lastLine(s string) string {
	lines := strings.Split(s, "\n")
	return lines[len(lines)-1]
}

// TestFocusByShortID: `migrate tui yd9y5dhx` opens the migration the API resolves the short id
// to, and follows it by its full id.
func TestFocusByShortID(t *testing.T) {
	f := &fakeAPI{views: []client.MigrationView{copyingView()}}
	short := strings.ToLower(ordersID[len(ordersID)-8:])
	m := update(t, New(f, testOptions(short)), tea.WindowSizeMsg{Width: 80, Height: 24})
	m, _ = runCmd(t, m, m.fetch())
	assert.Contains(t, m.View(), "shop.orders  ghost  running · copying  id ORDERS01")
	assert.Equal(t, ordersID, m.detail.id)
	m, _ = runCmd(t, m, m.fetch())
	assert.Contains(t, m.View(), "63.6%", "later polls go by the full id")
}
