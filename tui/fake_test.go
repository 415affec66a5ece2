package tui

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/store"
)

// fakeAPI is the controller as the TUI sees it: views and events to answer with, and a record
// of every call. The TUI's API is an HTTP client, so this is a fake of that client, not of
// any database.
type fakeAPI struct {
	mu     sync.Mutex
	views  []client.MigrationView
	events map[string][]store.Event
	err    error // returned by every call when set
	calls  []string
}

var _ API = (*fakeAPI)(nil)

func (f *fakeAPI) record(format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.err
}

// actions returns the calls that change something (reads are left out).
func (f *fakeAPI) actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if !strings.HasPrefix(c, "list") && !strings.HasPrefix(c, "get") && !strings.HasPrefix(c, "events") {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeAPI) view(id string) (client.MigrationView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	up := strings.ToUpper(id)
	for _, v := range f.views {
		if v.ID == id || strings.HasPrefix(v.ID, up) || strings.HasSuffix(v.ID, up) { // as the API resolves ids
			return v, nil
		}
	}
	return client.MigrationView{}, &client.APIError{StatusCode: 404, Message: "no migration " + id}
}

func (f *fakeAPI) List(context.Context) ([]client.MigrationView, error) {
	if err := f.record("list"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]client.MigrationView(nil), f.views...), nil
}

func (f *fakeAPI) Get(_ context.Context, id string) (client.MigrationView, error) {
	if err := f.record("get %s", id); err != nil {
		return client.MigrationView{}, err
	}
	return f.view(id)
}

func (f *fakeAPI) Events(_ context.Context, id string, since int64, _ time.Duration) (client.EventsResponse, error) {
	if err := f.record("events %s %d", id, since); err != nil {
		return client.EventsResponse{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r := client.EventsResponse{Next: since}
	for _, e := range f.events[id] {
		if e.ID > since {
			r.Events = append(r.Events, e)
			r.Next = e.ID
		}
	}
	return r, nil
}

func (f *fakeAPI) act(verb, id string) (client.MigrationView, error) {
	if err := f.record("%s %s", verb, id); err != nil {
		return client.MigrationView{}, err
	}
	return f.view(id)
}

func (f *fakeAPI) Pause(_ context.Context, id string) (client.MigrationView, error) {
	return f.act("pause", id)
}

func (f *fakeAPI) Resume(_ context.Context, id string) (client.MigrationView, error) {
	return f.act("resume", id)
}

func (f *fakeAPI) Approve(_ context.Context, id string) (client.MigrationView, error) {
	return f.act("approve", id)
}

func (f *fakeAPI) Cancel(_ context.Context, id string) (client.MigrationView, error) {
	return f.act("cancel", id)
}

func (f *fakeAPI) Revert(_ context.Context, id string) (client.MigrationView, error) {
	return f.act("revert", id)
}

func (f *fakeAPI) SetNiceRatio(_ context.Context, id string, r float64) (client.MigrationView, error) {
	return f.act(fmt.Sprintf("nice-ratio %g", r), id)
}

func (f *fakeAPI) SetChunkSize(_ context.Context, id string, n int64) (client.MigrationView, error) {
	return f.act(fmt.Sprintf("chunk-size %d", n), id)
}

func (f *fakeAPI) Evict(_ context.Context, instanceID string) error {
	return f.record("evict %s", instanceID)
}

// asciiRenderer renders without colour, so that golden files hold plain text.
func asciiRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	return r
}

// testOptions are deterministic options: no colour, a fixed clock, UTC.
func testOptions(focus string) Options {
	return Options{Focus: focus, Title: "http://127.0.0.1:8470", Renderer: asciiRenderer(),
		Now: func() time.Time { return fixedNow }, Location: time.UTC}
}

// update feeds msgs to m in order, without running any command.
func update(t *testing.T, m tea.Model, msgs ...tea.Msg) Model {
	t.Helper()
	for _, msg := range msgs {
		m, _ = m.Update(msg)
	}
	mm, ok := m.(Model)
	require.True(t, ok)
	return mm
}

// press sends keys ("a", "enter", "tab", "esc") and returns the model and the last command.
func press(t *testing.T, m Model, keys ...string) (Model, tea.Cmd) {
	t.Helper()
	var cmd tea.Cmd
	for _, k := range keys {
		var msg tea.KeyMsg
		switch k {
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "esc":
			msg = tea.KeyMsg{Type: tea.KeyEsc}
		case "tab":
			msg = tea.KeyMsg{Type: tea.KeyTab}
		case "backspace":
			msg = tea.KeyMsg{Type: tea.KeyBackspace}
		case "ctrl+c":
			msg = tea.KeyMsg{Type: tea.KeyCtrlC}
		default:
			msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		var tm tea.Model
		tm, cmd = m.Update(msg)
		m = tm.(Model)
	}
	return m, cmd
}
