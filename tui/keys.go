package tui

import (
	"github.com/charmbracelet/bubbles/key"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/migration"
)

// KeyMap is every key of the TUI; the help bar is built from it.
type KeyMap struct {
	Up, Down        key.Binding // move the cursor (list) or scroll the event log (detail)
	Top, Bottom     key.Binding // jump to the first or the last row (list)
	PageUp          key.Binding // a screenful up or down (list)
	PageDown        key.Binding
	Filter          key.Binding // filter the list by text
	Open, Back      key.Binding // list → detail → list
	Pause           key.Binding // pause or resume (a toggle)
	ChunkSize       key.Binding // change gh-ost's chunk size
	NiceRatio       key.Binding // change gh-ost's sleep after each chunk
	Approve         key.Binding // approve the cut-over (asks first)
	Cancel          key.Binding // cancel the migration (asks first)
	Revert          key.Binding // revert a completed gh-ost migration (asks first)
	NextParticipant key.Binding // select the next participant
	Evict           key.Binding // evict the selected participant (asks first)
	Yes, No         key.Binding // answers to a question
	Help            key.Binding // more or less help
	Quit            key.Binding
}

// DefaultKeyMap returns the keys: vi-style and arrows for movement, one letter per action.
func DefaultKeyMap() KeyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	return KeyMap{
		Up:              b([]string{"up", "k"}, "↑/k", "up"),
		Down:            b([]string{"down", "j"}, "↓/j", "down"),
		Top:             b([]string{"home", "g"}, "g/home", "first"),
		Bottom:          b([]string{"end", "G"}, "G/end", "last"),
		PageUp:          b([]string{"pgup"}, "pgup", "page up"),
		PageDown:        b([]string{"pgdown"}, "pgdn", "page down"),
		Filter:          b([]string{"/"}, "/", "filter"),
		Open:            b([]string{"enter"}, "enter", "details"),
		Back:            b([]string{"esc", "backspace"}, "esc", "back"),
		Pause:           b([]string{"p"}, "p", "pause"),
		ChunkSize:       b([]string{"s"}, "s", "chunk"),
		NiceRatio:       b([]string{"n"}, "n", "nice"),
		Approve:         b([]string{"a"}, "a", "approve"),
		Cancel:          b([]string{"x"}, "x", "cancel"),
		Revert:          b([]string{"r"}, "r", "revert"),
		NextParticipant: b([]string{"tab"}, "tab", "participant"),
		Evict:           b([]string{"e"}, "e", "evict"),
		Yes:             b([]string{"y", "Y"}, "y", "yes"),
		No:              b([]string{"n", "N", "esc"}, "n", "no"),
		Help:            b([]string{"?"}, "?", "more"),
		Quit:            b([]string{"q", "ctrl+c"}, "q", "quit"),
	}
}

// listHelp and detailHelp are the short help line of each screen: the keys a DBA needs most,
// of the actions only those that can work on v now (issue 13: an interrupted migration offered
// four keys that all answered 409).
func (k KeyMap) listHelp(v client.MigrationView) []key.Binding {
	return append(append([]key.Binding{k.Up, k.Down, k.Open, k.Filter}, k.actions(v)...), k.Help, k.Quit)
}

func (k KeyMap) detailHelp(v client.MigrationView) []key.Binding {
	out := append([]key.Binding{k.Back}, k.actions(v)...)
	if len(v.Participants) > 0 && v.Live {
		out = append(out, k.Evict)
	}
	return append(out, k.Help, k.Quit)
}

func (k KeyMap) filterHelp() []key.Binding {
	return []key.Binding{
		key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "keep filter")),
		key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
	}
}

// actions are the action keys that can work on v, the pause key named for what it does. The
// nice ratio, asked for less often, is in the full help only: at 80 columns the short line had
// no room left for quit.
func (k KeyMap) actions(v client.MigrationView) []key.Binding {
	var out []key.Binding
	if v.ID == "" {
		return out
	}
	pause := k.Pause
	if v.Paused {
		pause.SetHelp("p", "resume")
	}
	for _, c := range []struct {
		verb string
		b    key.Binding
	}{{verbPause, pause}, {verbChunkSize, k.ChunkSize}, {verbApprove, k.Approve}, {verbCancel, k.Cancel}, {verbRevert, k.Revert}} {
		if refusal(v, c.verb) == "" {
			out = append(out, c.b)
		}
	}
	return out
}

// refusal says why verb cannot work on v now ("" when it can), in the words the status line
// shows: the same rules the controller applies, so that no key leads to a 409.
func refusal(v client.MigrationView, verb string) string {
	if verb == verbRevert { // the one action on a migration that has ended
		switch {
		case v.Revert == nil:
			return "only a completed gh-ost migration can be reverted"
		case !v.Revert.Open:
			return "revert not possible: " + clean(v.Revert.Reason)
		}
		return ""
	}
	switch {
	case v.Interrupted:
		return "interrupted, its controller is gone: clean up"
	case v.Status.Terminal():
		return "it has ended (" + string(v.Status) + ")"
	case !v.Live:
		if v.Reason != "" {
			return clean(v.Reason)
		}
		return "not run by this controller"
	}
	switch verb {
	case verbChunkSize:
		if v.Strategy != "ghost" || v.Status != migration.StatusRunning {
			return "the chunk size applies to a gh-ost copy while it runs"
		}
	case verbNiceRatio:
		if v.Strategy != "ghost" || v.Status != migration.StatusRunning {
			return "the nice ratio applies to a gh-ost copy while it runs"
		}
	case verbApprove:
		switch {
		case v.Approval == "":
			return "an in-place ALTER has no cut-over to approve"
		case v.Approval != "manual":
			return "approval is " + clean(v.Approval) + ", not manual"
		case approved(v):
			return "already approved"
		}
	}
	return ""
}

// approved reports whether the gate's approval line passed.
func approved(v client.MigrationView) bool {
	if v.Checklist == nil {
		return false
	}
	l, ok := v.Checklist.Line(cutover.LineApproval)
	return ok && l.OK
}

// fullHelp is every key, in columns (shown with ?).
func (k KeyMap) fullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.Top, k.Bottom, k.Filter},
		{k.Open, k.Back},
		{k.Pause, k.ChunkSize, k.Approve, k.Cancel, k.Revert, k.NiceRatio},
		{k.NextParticipant, k.Evict},
		{k.Help, k.Quit},
	}
}

func (k KeyMap) questionHelp() []key.Binding { return []key.Binding{k.Yes, k.No} }
