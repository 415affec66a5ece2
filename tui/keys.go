package tui

import "github.com/charmbracelet/bubbles/key"

// KeyMap is every key of the TUI; the help bar is built from it.
type KeyMap struct {
	Up, Down        key.Binding // move the cursor (list) or scroll the event log (detail)
	Open, Back      key.Binding // list → detail → list
	Pause           key.Binding // pause or resume (a toggle)
	ChunkSize       key.Binding // change gh-ost's chunk size
	Approve         key.Binding // approve the cut-over (asks first)
	Cancel          key.Binding // cancel the migration (asks first)
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
		Open:            b([]string{"enter"}, "enter", "details"),
		Back:            b([]string{"esc", "backspace"}, "esc", "back"),
		Pause:           b([]string{"p"}, "p", "pause"),
		ChunkSize:       b([]string{"s"}, "s", "chunk"),
		Approve:         b([]string{"a"}, "a", "approve"),
		Cancel:          b([]string{"x"}, "x", "cancel"),
		NextParticipant: b([]string{"tab"}, "tab", "participant"),
		Evict:           b([]string{"e"}, "e", "evict"),
		Yes:             b([]string{"y", "Y"}, "y", "yes"),
		No:              b([]string{"n", "N", "esc"}, "n", "no"),
		Help:            b([]string{"?"}, "?", "more"),
		Quit:            b([]string{"q", "ctrl+c"}, "q", "quit"),
	}
}

// listHelp and detailHelp are the short help line of each screen: the keys a DBA needs most.
func (k KeyMap) listHelp() []key.Binding {
	return []key.Binding{k.Up, k.Down, k.Open, k.Pause, k.ChunkSize, k.Approve, k.Cancel, k.Help, k.Quit}
}

func (k KeyMap) detailHelp() []key.Binding {
	return []key.Binding{k.Back, k.Pause, k.ChunkSize, k.Approve, k.Cancel, k.Evict, k.Help, k.Quit}
}

// fullHelp is every key, in columns (shown with ?).
func (k KeyMap) fullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.Open, k.Back},
		{k.Pause, k.ChunkSize, k.Approve, k.Cancel},
		{k.NextParticipant, k.Evict},
		{k.Help, k.Quit},
	}
}

func (k KeyMap) questionHelp() []key.Binding { return []key.Binding{k.Yes, k.No} }
