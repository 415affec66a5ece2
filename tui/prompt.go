package tui

import (
	"strconv"

	"github.com/charmbracelet/lipgloss"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// numberInput is a one-line input of digits. bubbles/textinput would pull in a clipboard
// module for a field that only ever holds a row count.
type numberInput struct {
	value string
	limit int
}

// update applies a key: digits are appended, backspace removes the last one.
func (n numberInput) update(k tea.KeyMsg) numberInput {
	switch k.Type {
	case tea.KeyBackspace:
		if n.value != "" {
			n.value = n.value[:len(n.value)-1]
		}
	case tea.KeyRunes:
		for _, r := range k.Runes {
			if r >= '0' && r <= '9' && len(n.value) < n.limit {
				n.value += string(r)
			}
		}
	}
	return n
}

func (n numberInput) view() string { return n.value + "▏" }

// question is what the status line asks while it waits for the user: a yes/no before a
// destructive action, or a number for the chunk size. The zero value asks nothing.
type question struct {
	text  string
	act   action
	input *numberInput // set when the answer is a number
}

func (q question) active() bool { return q.text != "" }

// confirmQuestion asks before a; only an explicit yes runs it.
func confirmQuestion(text string, a action) question {
	return question{text: text, act: a}
}

// chunkQuestion asks for a new chunk size.
func chunkQuestion(a action) question {
	return question{text: "chunk size of " + a.label + " (rows; enter applies, esc keeps):", act: a, input: &numberInput{limit: 7}}
}

// answer handles a key while a question is open. It returns the question that stays open
// (zero when it closed), the action to run (nil when none) and what the status line says.
func (q question) answer(k tea.KeyMsg, keys KeyMap) (question, *action, status) {
	if q.input == nil {
		if key.Matches(k, keys.Yes) {
			a := q.act
			return question{}, &a, status{}
		}
		return question{}, nil, info("nothing done")
	}
	switch k.Type {
	case tea.KeyEsc, tea.KeyCtrlC:
		return question{}, nil, info("chunk size unchanged")
	case tea.KeyEnter:
		n, err := strconv.ParseInt(q.input.value, 10, 64)
		if err != nil || n <= 0 {
			return q, nil, failure("chunk size: want a positive number of rows")
		}
		a := q.act
		a.chunk = n
		return question{}, &a, status{}
	}
	in := q.input.update(k)
	q.input = &in
	return q, nil, status{}
}

// view is the question as the status line shows it; the text gives way, never the answer.
func (q question) view(s Styles, width int) string {
	answer := "[y/N]"
	if q.input != nil {
		answer = q.input.view()
	}
	text := fit(s.Prompt.Render(q.text), max(1, width-1-lipgloss.Width(answer)))
	return fit(text+" "+answer, width)
}
