package tui

import (
	"fmt"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/store"
)

// Golden files of View() at fixed sizes with colour off. Regenerate with
//
//	go test ./tui -run Golden -update
//
// and read the diff before committing it.

// The sizes issue 13 asks captures at, and one in between.
var goldenSizes = []struct{ w, h int }{{120, 40}, {80, 24}, {60, 16}, {40, 10}}

// detailAt returns the detail view of v after a copy's worth of polls (so the sparklines
// have a history) and the first n events of the log.
func detailAt(t *testing.T, v client.MigrationView, n int, w, h int, more ...store.Event) Model {
	t.Helper()
	m := update(t, New(&fakeAPI{}, testOptions(ordersID)), tea.WindowSizeMsg{Width: w, Height: h})
	for i := 0; i < 20; i++ {
		pv := copyingView()
		pv.Progress = copyingProgress(i)
		m = update(t, m, detailMsg{id: ordersID, view: pv})
	}
	evs := append(orderEvents()[:n:n], more...)
	return update(t, m, detailMsg{id: ordersID, view: v, events: client.EventsResponse{Events: evs, Next: int64(len(evs))}})
}

func TestGoldenDetail(t *testing.T) {
	cases := []struct {
		name   string
		view   client.MigrationView
		events int
		more   []store.Event
	}{
		{"copying", copyingView(), 3, nil},
		{"throttled", throttledView(), 4, nil},
		{"service_held", serviceHeldView(), 4, nil},
		{"gate", gateView(), 8, nil},
		{"gate_before_approval", gateFreshView(), 8, nil},
		{"cancelled", cancelledView(), 8, cancelEvents()},
		{"interrupted", interruptedView(), 6, nil},
		{"failed", failedView(), 3, nil},
		{"done", doneView(), 8, doneEvents()},
	}
	for _, c := range cases {
		for _, sz := range goldenSizes {
			t.Run(fmt.Sprintf("%s_%dx%d", c.name, sz.w, sz.h), func(t *testing.T) {
				m := detailAt(t, c.view, c.events, sz.w, sz.h, c.more...)
				golden.RequireEqual(t, []byte(m.View()))
			})
		}
	}
}

func TestGoldenList(t *testing.T) {
	for _, sz := range goldenSizes {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			m := update(t, New(&fakeAPI{}, testOptions("")), tea.WindowSizeMsg{Width: sz.w, Height: sz.h},
				listMsg{views: listViews()})
			m, _ = press(t, m, "j")
			golden.RequireEqual(t, []byte(m.View()))
		})
	}
}

// TestGoldenSmall shows how the detail view gives way on a short terminal: sparklines go
// first, then the participants, then it says the terminal is too small.
func TestGoldenSmall(t *testing.T) {
	for _, sz := range []struct{ w, h int }{{80, 19}, {80, 17}, {80, 14}, {30, 8}} {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			golden.RequireEqual(t, []byte(detailAt(t, gateView(), 7, sz.w, sz.h).View()))
		})
	}
}

// TestGoldenQuestion shows a confirmation in the status line and the error of a failed call.
func TestGoldenQuestion(t *testing.T) {
	m := detailAt(t, gateView(), 7, 80, 24)
	asked, _ := press(t, m, "a")
	t.Run("approve", func(t *testing.T) { golden.RequireEqual(t, []byte(asked.View())) })
	failed := update(t, m, actionMsg{act: action{verb: verbApprove, id: ordersID, label: "shop.orders"},
		err: &client.APIError{StatusCode: 409, Message: "migration is not waiting at the gate"}})
	t.Run("error", func(t *testing.T) { golden.RequireEqual(t, []byte(failed.View())) })
}
