package tui

import (
	"errors"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
)

// runCmd runs cmd as the program would and feeds its message back to m, so that a test sees
// the API call and its outcome. Batches are not expected here: actions are single commands.
func runCmd(t *testing.T, m Model, cmd tea.Cmd) (Model, tea.Msg) {
	t.Helper()
	require.NotNil(t, cmd, "the key should have started a command")
	msg := cmd()
	return update(t, m, msg), msg
}

// detailModel is the detail view of v on a fake that knows v.
func detailModel(t *testing.T, v client.MigrationView, opts Options) (Model, *fakeAPI) {
	t.Helper()
	f := &fakeAPI{views: []client.MigrationView{v}}
	m := update(t, New(f, opts), tea.WindowSizeMsg{Width: 80, Height: 24}, detailMsg{id: v.ID, view: v})
	return m, f
}

func TestActionKeys(t *testing.T) {
	paused := copyingView()
	paused.Paused = true
	cases := []struct {
		name string
		view client.MigrationView
		keys []string // the keys before the last one, which must start the call
		last string
		want string
	}{
		{"pause", copyingView(), nil, "p", "pause " + ordersID},
		{"resume", paused, nil, "p", "resume " + ordersID},
		{"chunk size", copyingView(), []string{"s", "5", "0", "x", "0", "backspace", "0"}, "enter", "chunk-size 500 " + ordersID},
		{"nice ratio", copyingView(), []string{"n", "2", "x", ".", "5"}, "enter", "nice-ratio 2.5 " + ordersID},
		{"approve", gateView(), []string{"a"}, "y", "approve " + ordersID},
		{"cancel", copyingView(), []string{"x"}, "y", "cancel " + ordersID},
		{"revert", doneView(), []string{"r"}, "y", "revert " + ordersID},
		{"evict the lapsed participant", gateView(), []string{"e"}, "y", "evict api-c41d"},
		{"evict the next one", gateView(), []string{"tab", "e"}, "y", "evict api-7f3a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, f := detailModel(t, c.view, testOptions(ordersID))
			m, cmd := press(t, m, c.keys...)
			if len(c.keys) > 0 {
				assert.Empty(t, f.actions(), "no call before the last key")
				assert.Nil(t, cmd)
			}
			m, cmd = press(t, m, c.last)
			m, msg := runCmd(t, m, cmd)
			require.IsType(t, actionMsg{}, msg)
			assert.NoError(t, msg.(actionMsg).err)
			assert.Equal(t, []string{c.want}, f.actions())
			assert.False(t, m.ask.active())
			assert.False(t, m.status.err, m.status.text)
		})
	}
}

// TestConfirmationRefused checks that destructive actions ask first and that anything but
// yes leaves the migration alone.
func TestConfirmationRefused(t *testing.T) {
	cases := []struct {
		name, key, question string
	}{
		{"approve", "a", "Approve the cut-over of shop.orders?"},
		{"cancel", "x", "Cancel shop.orders?"},
		{"evict", "e", "Evict orders-api api-c41d (lease lapsed)?"},
	}
	for _, c := range cases {
		for _, answer := range []string{"n", "esc", "q"} {
			t.Run(c.name+"/"+answer, func(t *testing.T) {
				m, f := detailModel(t, gateView(), testOptions(ordersID))
				m, cmd := press(t, m, c.key)
				assert.Nil(t, cmd)
				require.True(t, m.ask.active())
				assert.Contains(t, m.View(), c.question)
				assert.Contains(t, m.View(), "[y/N]")
				m, cmd = press(t, m, answer)
				assert.Nil(t, cmd, "a refused question runs nothing (and q does not quit while asking)")
				assert.False(t, m.ask.active())
				assert.Empty(t, f.actions())
				assert.Contains(t, m.View(), "nothing done")
			})
		}
	}
}

func TestChunkSizeInput(t *testing.T) {
	t.Run("esc keeps it", func(t *testing.T) {
		m, f := detailModel(t, copyingView(), testOptions(ordersID))
		m, _ = press(t, m, "s", "2", "esc")
		assert.False(t, m.ask.active())
		assert.Empty(t, f.actions())
	})
	t.Run("empty is refused and the input stays", func(t *testing.T) {
		m, f := detailModel(t, copyingView(), testOptions(ordersID))
		m, cmd := press(t, m, "s", "enter")
		assert.Nil(t, cmd)
		assert.True(t, m.ask.active())
		assert.True(t, m.status.err)
		assert.Empty(t, f.actions())
	})
}

func TestNiceRatioInput(t *testing.T) {
	t.Run("out of range is refused and the input stays", func(t *testing.T) {
		m, f := detailModel(t, copyingView(), testOptions(ordersID))
		m, cmd := press(t, m, "n", "1", "0", "1", "enter")
		assert.Nil(t, cmd)
		assert.True(t, m.ask.active())
		assert.True(t, m.status.err)
		assert.Equal(t, "nice ratio: want a number from 0 to 100", m.status.text)
		assert.Empty(t, f.actions())
	})
	t.Run("esc keeps it", func(t *testing.T) {
		m, f := detailModel(t, copyingView(), testOptions(ordersID))
		m, _ = press(t, m, "n", "3", "esc")
		assert.False(t, m.ask.active())
		assert.Equal(t, "nice ratio unchanged", m.status.text)
		assert.Empty(t, f.actions())
	})
	t.Run("the prompt says the current ratio", func(t *testing.T) {
		v := copyingView()
		r := 1.5
		v.NiceRatio = &r
		m, _ := detailModel(t, v, testOptions(ordersID))
		m, _ = press(t, m, "n")
		assert.Contains(t, m.View(), "now 1.5")
	})
	t.Run("not on a native migration", func(t *testing.T) {
		v := copyingView()
		v.Strategy, v.Approval = "inplace", ""
		m, f := detailModel(t, v, testOptions(ordersID))
		m, cmd := press(t, m, "n")
		assert.Nil(t, cmd)
		assert.False(t, m.ask.active())
		assert.Equal(t, "nice-ratio shop.orders: the nice ratio applies to a gh-ost copy while it runs", m.status.text)
		assert.Empty(t, f.actions())
	})
	t.Run("the detail view shows a ratio in force", func(t *testing.T) {
		v := copyingView()
		v.Progress.NiceRatio = 4
		m, _ := detailModel(t, v, testOptions(ordersID))
		assert.Contains(t, m.View(), "· nice 4")
	})
}

func TestListActionsAndNavigation(t *testing.T) {
	views := listViews()
	f := &fakeAPI{views: views}
	m := update(t, New(f, testOptions("")), tea.WindowSizeMsg{Width: 80, Height: 24}, listMsg{views: views})
	m, cmd := press(t, m, "j", "j", "p") // the third row: shop.order_items
	_, _ = runCmd(t, m, cmd)
	assert.Equal(t, []string{"pause " + views[2].ID}, f.actions())

	m, cmd = press(t, m, "enter")
	require.Equal(t, screenDetail, m.screen)
	assert.Equal(t, views[2].ID, m.detail.id)
	m, _ = runCmd(t, m, cmd)
	assert.Contains(t, m.View(), "shop.order_items")

	m, cmd = press(t, m, "esc")
	assert.Equal(t, screenList, m.screen)
	m, _ = runCmd(t, m, cmd)
	assert.Contains(t, m.View(), "5 migrations")
}

func TestAPIErrorsInStatusLine(t *testing.T) {
	m, f := detailModel(t, copyingView(), testOptions(ordersID))
	f.err = &client.APIError{StatusCode: 409, Message: "migration is not running"}
	m, cmd := press(t, m, "p")
	m, _ = runCmd(t, m, cmd)
	assert.True(t, m.status.err)
	assert.Contains(t, m.View(), "error: pause shop.orders: migration is not running (HTTP 409)")

	f.err = errors.New("connection refused\x1b[2J") // an escape sequence must not reach the terminal
	m, _ = runCmd(t, m, m.fetch())
	assert.Contains(t, m.View(), "error: API: connection refused [2J")
	assert.NotContains(t, m.View(), "\x1b")

	f.err = nil
	m, _ = runCmd(t, m, m.fetch())
	assert.False(t, m.status.err, "a successful poll clears a polling error")
}

func TestEventLogFollowsAndScrolls(t *testing.T) {
	m, _ := detailModel(t, gateView(), testOptions(ordersID))
	m = update(t, m, tea.WindowSizeMsg{Width: 80, Height: 19})
	m = update(t, m, detailMsg{id: ordersID, view: gateView(), events: client.EventsResponse{Events: orderEvents(), Next: 8}})
	assert.Contains(t, m.View(), "connection 4711")
	m, _ = press(t, m, "k", "k")
	assert.Contains(t, m.View(), "2 newer below")
	assert.NotContains(t, m.View(), "11:59:58 gate_waiting")
	m, _ = press(t, m, "j", "j")
	assert.Contains(t, m.View(), "11:59:58 gate_waiting")
}

func TestHistoryIsBounded(t *testing.T) {
	var h History
	for i := 0; i < 3*HistorySize; i++ {
		p := copyingProgress(i)
		h.Add(p)
		h.Add(p) // the same sample polled twice counts once
	}
	assert.Len(t, h.Lag(), HistorySize)
	assert.Len(t, h.Rate(), HistorySize)
	assert.Equal(t, copyingProgress(3*HistorySize-1).RowsPerSecond, h.Rate()[HistorySize-1])
}

func TestQuitCancelsFocusedMigration(t *testing.T) {
	opts := testOptions(ordersID)
	opts.CancelOnQuit = true
	t.Run("no keeps it running", func(t *testing.T) {
		m, f := detailModel(t, copyingView(), opts)
		m, cmd := press(t, m, "q")
		assert.Nil(t, cmd)
		assert.Contains(t, m.View(), "shop.orders is still running and ends with this TUI: cancel it and quit?")
		_, cmd = press(t, m, "n")
		assert.Nil(t, cmd)
		assert.Empty(t, f.actions())
	})
	t.Run("yes cancels, then quits", func(t *testing.T) {
		m, f := detailModel(t, copyingView(), opts)
		m, cmd := press(t, m, "esc") // on the list screen too
		m, _ = runCmd(t, m, cmd)
		_, cmd = press(t, m, "q", "y")
		m, msg := runCmd(t, m, cmd)
		assert.Equal(t, verbCancel, msg.(actionMsg).act.verb)
		assert.Equal(t, []string{"cancel " + ordersID}, f.actions())
		_, cmd = m.Update(msg)
		assert.IsType(t, tea.QuitMsg{}, cmd())
	})
	t.Run("an ended migration quits at once", func(t *testing.T) {
		m, _ := detailModel(t, doneView(), opts)
		_, cmd := press(t, m, "q")
		assert.IsType(t, tea.QuitMsg{}, cmd())
	})
}

// TestProgram runs the model in a real bubbletea program (teatest): it polls the fake, draws,
// takes keys, and quits.
func TestProgram(t *testing.T) {
	f := &fakeAPI{views: listViews()}
	opts := testOptions("")
	opts.Interval = 20 * time.Millisecond
	tm := teatest.NewTestModel(t, New(f, opts), teatest.WithInitialTermSize(80, 24))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return strings.Contains(string(b), "shop.order_items") },
		teatest.WithDuration(5*time.Second))
	tm.Type("x")
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return strings.Contains(string(b), "[y/N]") },
		teatest.WithDuration(5*time.Second))
	tm.Type("y")
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return strings.Contains(string(b), "original table is unchanged") },
		teatest.WithDuration(5*time.Second))
	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	assert.Equal(t, []string{"cancel " + ordersID}, f.actions(), "the first row is the migration at the gate")
}

func TestHelpShowsEveryKey(t *testing.T) {
	m, _ := detailModel(t, gateView(), testOptions(ordersID))
	assert.NotContains(t, m.View(), "tab participant")
	m, _ = press(t, m, "?")
	assert.Contains(t, m.View(), "tab participant")
	assert.Equal(t, 24, strings.Count(m.View(), "\n")+1, "the full help takes lines from the body, not from the screen")
}
