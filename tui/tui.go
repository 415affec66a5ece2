// Package tui is the DBA's terminal UI of ghostgate (`migrate tui`, `migrate run --tui`): a
// list of migrations and a detail view of one (progress, replica lag and copy rate sparklines,
// the throttle state and its reason, the cut-over gate's checklist, the participants and the
// event log), with one key per action and a question before anything destructive.
//
// It talks to the controller only through API, the subset of *client.Client it uses: it never
// sees a database or a runner, and every string it draws came from the API (so no raw gh-ost
// output can reach the screen). All I/O happens in tea.Cmds that return typed messages; the
// model itself only computes.
package tui

import (
	"context"
	"errors"
	"io"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/ghostgate/ghostgate/client"
)

// API is what the TUI needs of the controller: the methods of *client.Client it calls.
type API interface {
	List(ctx context.Context) ([]client.MigrationView, error)
	Get(ctx context.Context, id string) (client.MigrationView, error)
	Events(ctx context.Context, id string, since int64, wait time.Duration) (client.EventsResponse, error)
	Pause(ctx context.Context, id string) (client.MigrationView, error)
	Resume(ctx context.Context, id string) (client.MigrationView, error)
	Approve(ctx context.Context, id string) (client.MigrationView, error)
	Cancel(ctx context.Context, id string) (client.MigrationView, error)
	Revert(ctx context.Context, id string) (client.MigrationView, error)
	SetChunkSize(ctx context.Context, id string, n int64) (client.MigrationView, error)
	SetNiceRatio(ctx context.Context, id string, r float64) (client.MigrationView, error)
	Evict(ctx context.Context, instanceID string) error
}

var _ API = (*client.Client)(nil)

// Defaults of Options.
const (
	DefaultInterval      = time.Second
	DefaultTimeout       = 5 * time.Second
	DefaultActionTimeout = 2 * time.Minute // a cancel returns once the migration has ended
	DefaultEventLog      = 200             // event lines kept per detail view
)

// Options configure a Model. The zero value is usable.
type Options struct {
	// Focus opens the detail view of this migration at start (`migrate run --tui`).
	Focus string
	// CancelOnQuit says the focused migration does not outlive the TUI (its controller runs in
	// the same process): quitting while it is active asks whether to cancel it.
	CancelOnQuit bool
	// Title names the controller on the top line, e.g. its URL.
	Title string
	// Interval is the polling period (default DefaultInterval).
	Interval time.Duration
	// Timeout bounds each read, ActionTimeout each action (defaults above).
	Timeout, ActionTimeout time.Duration
	// Renderer renders every style (nil: lipgloss's default). Tests pass one with colour off.
	Renderer *lipgloss.Renderer
	// Now and Location make times deterministic in tests (defaults: time.Now, time.Local).
	Now      func() time.Time
	Location *time.Location
}

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ActionTimeout <= 0 {
		o.ActionTimeout = DefaultActionTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	return o
}

// Run shows the TUI on out (a terminal) with keys from in until the user quits or ctx ends.
// It uses the alternate screen, so the terminal is left as it was.
func Run(ctx context.Context, api API, opts Options, in io.Reader, out io.Writer) error {
	m := New(api, opts)
	stop := make(chan struct{})
	defer close(stop)
	m.stop = stop
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out), tea.WithAltScreen())
	_, err := p.Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
