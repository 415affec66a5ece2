package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/internal/errtext"
)

// Minimum terminal size; below it the TUI says so instead of drawing a broken layout.
const (
	MinWidth  = 40
	MinHeight = 10
)

// The size assumed until the terminal reports its own (one that cannot report it never does).
const (
	defaultWidth  = 80
	defaultHeight = 24
)

type screen int

const (
	screenList screen = iota
	screenDetail
)

// status is the status line: the answer to the last action, or an error of the API.
type status struct {
	text  string
	err   bool
	fetch bool // an error of polling: cleared by the next successful poll
}

func info(s string) status    { return status{text: s} }
func failure(s string) status { return status{text: s, err: true} }

// Model is the TUI's root model: the list and detail screens, the open question, the status
// line and the help bar.
type Model struct {
	api    API
	opts   Options
	styles Styles
	keys   KeyMap
	help   help.Model

	width, height int
	screen        screen
	list          listView
	detail        detailView
	ask           question
	status        status
	fetching      bool
	histories     map[string]*History
	focus         client.MigrationView // the latest state of Options.Focus, whatever the screen
	stop          <-chan struct{}      // closed by Run when the program has ended
}

// New returns the model; Run shows it.
func New(api API, opts Options) Model {
	opts = opts.withDefaults()
	st := DefaultStyles(opts.Renderer)
	h := help.New()
	h.Styles = st.Help
	m := Model{api: api, opts: opts, styles: st, keys: DefaultKeyMap(), help: h, histories: map[string]*History{}}
	m.setSize(defaultWidth, defaultHeight)
	if opts.Focus != "" {
		m.screen = screenDetail
		m.detail = newDetailView(opts.Focus, m.history(opts.Focus))
	}
	return m
}

// Init starts polling.
func (m Model) Init() tea.Cmd {
	return tea.Batch(m.fetch(), tick(m.opts.Interval, m.stop))
}

// fetch reads what the current screen shows.
func (m Model) fetch() tea.Cmd {
	if m.screen == screenDetail {
		return fetchDetail(m.api, m.opts.Timeout, m.detail.id, m.detail.next)
	}
	return fetchList(m.api, m.opts.Timeout)
}

func (m Model) history(id string) *History {
	h, ok := m.histories[id]
	if !ok {
		h = &History{}
		m.histories[id] = h
	}
	return h
}

// Update handles one message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.setSize(msg.Width, msg.Height)
	case tickMsg:
		cmds := []tea.Cmd{tick(m.opts.Interval, m.stop)}
		if !m.fetching {
			m.fetching = true
			cmds = append(cmds, m.fetch())
		}
		return m, tea.Batch(cmds...)
	case listMsg:
		m.fetching = false
		if m.fetchFailed(msg.err) {
			return m, nil
		}
		for i, v := range msg.views {
			m.history(v.ID).Add(v.Progress)
			m.seen(msg.views[i])
		}
		m.list.SetItems(msg.views, m.opts.Now())
	case detailMsg:
		m.fetching = false
		if msg.id != m.detail.id {
			return m, nil // the user moved on while it was in flight
		}
		if msg.view.ID != "" && msg.view.ID != m.detail.id {
			// Opened with a short id (`migrate tui yd9y5dhx`): the API resolved it; from now on
			// the view, its history and the focus go by the full id.
			if m.opts.Focus == m.detail.id {
				m.opts.Focus = msg.view.ID
			}
			m.detail.id, m.detail.hist = msg.view.ID, m.history(msg.view.ID)
		}
		if msg.view.ID != "" {
			m.history(msg.id).Add(msg.view.Progress)
			m.seen(msg.view)
		}
		if m.fetchFailed(msg.err) {
			return m, nil
		}
		m.detail.AddEvents(msg.events)
	case actionMsg:
		return m.actionDone(msg)
	case tea.KeyMsg:
		return m.key(msg)
	}
	return m, nil
}

// seen records a fresh state of migration v wherever it is shown.
func (m *Model) seen(v client.MigrationView) {
	if v.ID == m.detail.id {
		m.detail.SetView(v)
	}
	if v.ID == m.opts.Focus {
		m.focus = v
	}
}

// fetchFailed shows a polling error, or clears the last one when err is nil.
func (m *Model) fetchFailed(err error) bool {
	if err != nil {
		m.status = status{text: "API: " + errtext.Text(err), err: true, fetch: true}
		return true
	}
	if m.status.fetch {
		m.status = status{}
	}
	return false
}

func (m Model) actionDone(msg actionMsg) (tea.Model, tea.Cmd) {
	if msg.err != nil {
		m.status = failure(fmt.Sprintf("%s %s: %s", msg.act.verb, msg.act.label, errtext.Text(msg.err)))
	} else {
		m.status = info(msg.act.done())
		if msg.view.ID != "" {
			m.seen(msg.view)
		}
	}
	if msg.act.quit {
		return m, tea.Quit
	}
	return m, m.fetch()
}

func (m *Model) setSize(w, h int) {
	m.width, m.height = w, h
	m.help.Width = w
	m.list.SetSize(w, h-2) // View sizes them again once it knows the help bar's height
	m.detail.SetSize(w, h-2)
}

// key handles a key press: an open question first, then the keys of every screen, then
// those of the current screen.
func (m Model) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if m.ask.active() {
		q, a, st := m.ask.answer(k, m.keys)
		m.ask = q
		if st.text != "" {
			m.status = st
		}
		if a != nil {
			m.status = info(a.verb + " " + a.label + "…")
			return m, a.run(m.api, m.opts.ActionTimeout)
		}
		return m, nil
	}
	if m.screen == screenList && m.list.Filtering() {
		return m.filterKey(k)
	}
	switch {
	case key.Matches(k, m.keys.Quit):
		return m.quit()
	case key.Matches(k, m.keys.Help):
		m.help.ShowAll = !m.help.ShowAll
		return m, nil
	}
	if m.screen == screenDetail {
		return m.detailKey(k)
	}
	return m.listKey(k)
}

// filterKey handles a key while the list's filter is typed: every printable key is text.
func (m Model) filterKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	m.list.FilterKey(k)
	return m, nil
}

// quit leaves, unless the focused migration would end with the TUI (CancelOnQuit): while it
// is active, quitting asks first and cancels it on yes.
func (m Model) quit() (tea.Model, tea.Cmd) {
	v := m.focus
	if !m.opts.CancelOnQuit || m.opts.Focus == "" || v.ID != "" && !v.Status.Active() {
		return m, tea.Quit
	}
	a := action{verb: verbCancel, id: m.opts.Focus, label: "migration " + shortID(m.opts.Focus), quit: true}
	if v.ID != "" {
		a.label = label(v)
	}
	m.ask = confirmQuestion(fmt.Sprintf("%s is still running and ends with this TUI: cancel it and quit?", a.label), a)
	return m, nil
}

func (m Model) listKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch {
	case key.Matches(k, m.keys.Up):
		m.list.Move(-1)
	case key.Matches(k, m.keys.Down):
		m.list.Move(1)
	case key.Matches(k, m.keys.Top):
		m.list.Top()
	case key.Matches(k, m.keys.Bottom):
		m.list.Bottom()
	case key.Matches(k, m.keys.PageUp):
		m.list.Page(-1)
	case key.Matches(k, m.keys.PageDown):
		m.list.Page(1)
	case key.Matches(k, m.keys.Filter):
		m.list.StartFilter()
	case key.Matches(k, m.keys.Back) && m.list.filter != "":
		m.list.filter = ""
		m.list.refilter()
	case key.Matches(k, m.keys.Open):
		v, ok := m.list.Selected()
		if !ok {
			return m, nil
		}
		m.screen = screenDetail
		m.detail = newDetailView(v.ID, m.history(v.ID))
		m.detail.SetSize(m.width, m.height-2)
		m.detail.SetView(v)
		m.fetching = true
		return m, m.fetch()
	default:
		v, ok := m.list.Selected()
		if !ok {
			return m, nil
		}
		return m.act(k, v)
	}
	return m, nil
}

func (m Model) detailKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch {
	case key.Matches(k, m.keys.Back):
		m.screen = screenList
		m.fetching = true
		return m, m.fetch()
	case key.Matches(k, m.keys.Up):
		m.detail.Scroll(1)
	case key.Matches(k, m.keys.Down):
		m.detail.Scroll(-1)
	case key.Matches(k, m.keys.NextParticipant):
		m.detail.NextParticipant()
	case key.Matches(k, m.keys.Evict):
		p, ok := m.detail.SelectedParticipant()
		if !ok {
			m.status = failure("no participant to evict")
			return m, nil
		}
		a := m.detail.action(verbEvict)
		a.instance = p.InstanceID
		state := "live"
		if !p.Live {
			state = "lease lapsed"
		}
		m.ask = confirmQuestion(fmt.Sprintf("Evict %s %s (%s)? It stops holding the gate.", clean(p.Service), clean(p.InstanceID), state), a)
	default:
		if m.detail.view.ID == "" {
			return m, nil
		}
		return m.act(k, m.detail.view)
	}
	return m, nil
}

// act handles the keys that act on migration v, asking first where it cannot be undone. A
// key whose action cannot work on v now says why instead of calling the API for a 409.
func (m Model) act(k tea.KeyMsg, v client.MigrationView) (tea.Model, tea.Cmd) {
	a := action{id: v.ID, label: label(v)}
	switch {
	case key.Matches(k, m.keys.Pause):
		a.verb = verbPause
		if v.Paused {
			a.verb = verbResume
		}
	case key.Matches(k, m.keys.ChunkSize):
		a.verb = verbChunkSize
	case key.Matches(k, m.keys.NiceRatio):
		a.verb = verbNiceRatio
	case key.Matches(k, m.keys.Approve):
		a.verb = verbApprove
	case key.Matches(k, m.keys.Cancel):
		a.verb = verbCancel
	case key.Matches(k, m.keys.Revert):
		a.verb = verbRevert
	default:
		return m, nil
	}
	if why := refusal(v, a.verb); why != "" {
		m.status = failure(a.verb + " " + a.label + ": " + why)
		return m, nil
	}
	switch a.verb {
	case verbPause, verbResume:
		m.status = info(a.verb + " " + a.label + "…")
		return m, a.run(m.api, m.opts.ActionTimeout)
	case verbChunkSize:
		m.ask = chunkQuestion(a, v.ChunkSize)
	case verbNiceRatio:
		m.ask = niceQuestion(a, v.NiceRatio)
	case verbApprove:
		m.ask = confirmQuestion(fmt.Sprintf("Approve the cut-over of %s? The tables swap once every condition holds.", a.label), a)
	case verbCancel:
		m.ask = confirmQuestion(fmt.Sprintf("Cancel %s? The original table stays as it is.", a.label), a)
	case verbRevert:
		m.ask = confirmQuestion(fmt.Sprintf("Revert %s? gh-ost replays every write made since the cut-over into %s and swaps it back: the table gets its old shape. It goes through the gate.",
			a.label, clean(v.Revert.OldTable)), a)
	}
	return m, nil
}

// label names a migration for people: schema.table.
func label(v client.MigrationView) string {
	if v.Cluster != "" { // a controller of several clusters (serve --clusters): which one
		return clean(v.Cluster + ":" + v.Schema + "." + v.Table)
	}
	return clean(v.Schema + "." + v.Table)
}

// View draws the current screen, the status line and the help bar.
func (m Model) View() string {
	if m.width < MinWidth || m.height < MinHeight {
		return m.tooSmall()
	}
	helpBar := m.helpView()
	if hl := strings.Split(helpBar, "\n"); len(hl) > 0 {
		for i := range hl {
			hl[i] = fit(hl[i], m.width) // bubbles/help does not always cut its last item
		}
		helpBar = strings.Join(hl, "\n")
	}
	bodyH := m.height - 1 - lipgloss.Height(helpBar)
	var body string
	if m.screen == screenDetail {
		d := m.detail
		d.SetSize(m.width, bodyH)
		var ok bool
		if body, ok = d.View(m.styles, m.opts); !ok {
			return m.tooSmall()
		}
	} else {
		l := m.list
		l.SetSize(m.width, bodyH)
		body = l.View(m.styles, m.opts.Title)
	}
	return body + "\n" + m.statusView() + "\n" + helpBar
}

// helpView is the help bar: the keys of the open question, of the screen, or all of them.
func (m Model) helpView() string {
	switch {
	case m.ask.active():
		return m.help.ShortHelpView(m.keys.questionHelp())
	case m.help.ShowAll:
		return m.help.FullHelpView(m.keys.fullHelp())
	case m.screen == screenDetail:
		return m.help.ShortHelpView(m.keys.detailHelp(m.detail.view))
	case m.list.Filtering():
		return m.help.ShortHelpView(m.keys.filterHelp())
	}
	v, _ := m.list.Selected()
	return m.help.ShortHelpView(m.keys.listHelp(v))
}

func (m Model) statusView() string {
	switch {
	case m.ask.active():
		return m.ask.view(m.styles, m.width)
	case m.status.err:
		return fit(m.styles.Bad.Render("error: "+clean(m.status.text)), m.width)
	default:
		return fit(clean(m.status.text), m.width)
	}
}

func (m Model) tooSmall() string {
	msg := fmt.Sprintf("terminal too small (%d×%d): ghostgate needs at least %d×%d; q quits", m.width, m.height, MinWidth, MinHeight)
	return lipgloss.NewStyle().Width(max(m.width, 1)).MaxHeight(max(m.height, 1)).Render(msg)
}
