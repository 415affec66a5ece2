package tui

import (
	"context"
	"strconv"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/ghostgate/ghostgate/client"
)

// The messages of the root model: each tea.Cmd below does its I/O and returns one of them.

// tickMsg asks for the next poll.
type tickMsg time.Time

// listMsg carries GET /v1/migrations.
type listMsg struct {
	views []client.MigrationView
	err   error
}

// detailMsg carries one migration and the events after the ones already shown.
type detailMsg struct {
	id     string
	view   client.MigrationView
	events client.EventsResponse
	err    error
}

// actionMsg is the answer to an action.
type actionMsg struct {
	act  action
	view client.MigrationView // the migration after the action (zero for evict)
	err  error
}

// action is one change the user asked for: a verb and its target.
type action struct {
	verb     string  // verbPause, …
	id       string  // the migration
	label    string  // schema.table, for messages
	instance string  // the participant, for verbEvict
	chunk    int64   // for verbChunkSize
	nice     float64 // for verbNiceRatio
	quit     bool    // quit once it is done (cancel on quit)
}

// Action verbs, as the API names them.
const (
	verbPause     = "pause"
	verbResume    = "resume"
	verbApprove   = "approve"
	verbCancel    = "cancel"
	verbRevert    = "revert"
	verbChunkSize = "chunk-size"
	verbNiceRatio = "nice-ratio"
	verbEvict     = "evict"
)

// tick waits d, or until stop closes (the program ended: its commands must not linger).
func tick(d time.Duration, stop <-chan struct{}) tea.Cmd {
	return func() tea.Msg {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case now := <-t.C:
			return tickMsg(now)
		case <-stop:
			return nil
		}
	}
}

func fetchList(api API, timeout time.Duration) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		views, err := api.List(ctx)
		return listMsg{views: views, err: err}
	}
}

// fetchDetail reads the migration, then its events after since (no long poll: the tick paces).
func fetchDetail(api API, timeout time.Duration, id string, since int64) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		v, err := api.Get(ctx, id)
		if err != nil {
			return detailMsg{id: id, err: err}
		}
		ev, err := api.Events(ctx, id, since, 0)
		return detailMsg{id: id, view: v, events: ev, err: err}
	}
}

// run performs a.
func (a action) run(api API, timeout time.Duration) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		var v client.MigrationView
		var err error
		switch a.verb {
		case verbPause:
			v, err = api.Pause(ctx, a.id)
		case verbResume:
			v, err = api.Resume(ctx, a.id)
		case verbApprove:
			v, err = api.Approve(ctx, a.id)
		case verbCancel:
			v, err = api.Cancel(ctx, a.id)
		case verbRevert:
			v, err = api.Revert(ctx, a.id)
		case verbChunkSize:
			v, err = api.SetChunkSize(ctx, a.id, a.chunk)
		case verbNiceRatio:
			v, err = api.SetNiceRatio(ctx, a.id, a.nice)
		case verbEvict:
			err = api.Evict(ctx, a.instance)
		}
		return actionMsg{act: a, view: v, err: err}
	}
}

// done is the status line after a successful action.
func (a action) done() string {
	switch a.verb {
	case verbPause:
		return "paused " + a.label
	case verbResume:
		return "resumed " + a.label
	case verbApprove:
		return "cut-over of " + a.label + " approved"
	case verbCancel:
		return a.label + " cancelled; the original table is unchanged"
	case verbChunkSize:
		return "chunk size of " + a.label + " set"
	case verbNiceRatio:
		return "nice ratio of " + a.label + " set to " + strconv.FormatFloat(a.nice, 'g', -1, 64)
	case verbRevert:
		return "revert of " + a.label + " started as a migration of its own; it waits at the gate like a cut-over"
	case verbEvict:
		return "participant " + a.instance + " evicted"
	}
	return a.verb + " done"
}
