package tui

import (
	"fmt"
	"strconv"

	"github.com/charmbracelet/lipgloss"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/ghostgate/ghostgate/migration"
)

// lineInput is a one-line input of the runes accept lets through (digits for a chunk size,
// printable text for the list's filter). bubbles/textinput would pull in a clipboard module
// for fields this small.
type lineInput struct {
	value  string
	limit  int // in runes
	accept func(rune) bool
}

// update applies a key: accepted runes are appended, backspace removes the last one.
func (n lineInput) update(k tea.KeyMsg) lineInput {
	switch k.Type {
	case tea.KeyBackspace:
		if r := []rune(n.value); len(r) > 0 {
			n.value = string(r[:len(r)-1])
		}
	case tea.KeyRunes, tea.KeySpace:
		for _, r := range k.Runes {
			if n.accept(r) && len([]rune(n.value)) < n.limit {
				n.value += string(r)
			}
		}
	}
	return n
}

func (n lineInput) view() string { return n.value + "▏" }

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// question is what the status line asks while it waits for the user: a yes/no before a
// destructive action, or a number for the chunk size or the nice ratio. The zero value asks nothing.
type question struct {
	text  string
	act   action
	input *lineInput // set when the answer is a number
}

func (q question) active() bool { return q.text != "" }

// confirmQuestion asks before a; only an explicit yes runs it.
func confirmQuestion(text string, a action) question {
	return question{text: text, act: a}
}

// chunkQuestion asks for a new chunk size, saying the current one when it is known (0: not).
func chunkQuestion(a action, current int64) question {
	now := ""
	if current > 0 {
		now = fmt.Sprintf(", now %s", count(current))
	}
	return question{text: "chunk size of " + a.label + " (rows" + now + "; enter applies, esc keeps):", act: a,
		input: &lineInput{limit: 7, accept: isDigit}}
}

// niceQuestion asks for a new nice ratio, saying the current one when it is known (nil: not).
func niceQuestion(a action, current *float64) question {
	now := ""
	if current != nil {
		now = ", now " + strconv.FormatFloat(*current, 'g', -1, 64)
	}
	return question{text: "nice ratio of " + a.label + " (sleep per chunk time, 0-100" + now + "; enter applies, esc keeps):", act: a,
		input: &lineInput{limit: 6, accept: func(r rune) bool { return isDigit(r) || r == '.' }}}
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
	what := "chunk size"
	if q.act.verb == verbNiceRatio {
		what = "nice ratio"
	}
	switch k.Type {
	case tea.KeyEsc, tea.KeyCtrlC:
		return question{}, nil, info(what + " unchanged")
	case tea.KeyEnter:
		a := q.act
		if a.verb == verbNiceRatio {
			r, err := strconv.ParseFloat(q.input.value, 64)
			if err != nil || migration.CheckNiceRatio(r) != nil {
				return q, nil, failure(fmt.Sprintf("nice ratio: want a number from 0 to %d", migration.MaxNiceRatio))
			}
			a.nice = r
			return question{}, &a, status{}
		}
		n, err := strconv.ParseInt(q.input.value, 10, 64)
		if err != nil || n <= 0 {
			return q, nil, failure("chunk size: want a positive number of rows")
		}
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
