// Package errtext turns an error into the text a person reads at a front door: the CLI's
// stderr and the API's "error" field. Go error chains name each package they pass through
// ("store: ", "server: ", "runner: ") and repeat a word when two layers say the same thing
// ("cancelled: cancelled: runner: …"); to an operator both are noise (issue 13). The error
// values are untouched: callers branch on them with errors.Is/As, never on this text.
package errtext

import "strings"

// packages are the prefixes our packages (and the ones we wrap) put on their errors.
var packages = map[string]bool{
	"store": true, "server": true, "runner": true, "cutover": true, "planner": true, "ghost": true,
	"native": true, "throttle": true, "client": true, "wire": true, "graybox": true, "migration": true,
	"metrics": true, "cli": true,
}

// Text is err's message without package prefixes and without a segment that repeats the one
// before it (case-insensitively). Segments are the parts between ": ".
func Text(err error) string {
	if err == nil {
		return ""
	}
	return Clean(err.Error())
}

// Clean is Text for a message already turned into text.
func Clean(msg string) string {
	parts := strings.Split(msg, ": ")
	out := parts[:0]
	for _, p := range parts {
		if packages[strings.TrimSpace(p)] {
			continue
		}
		if n := len(out); n > 0 && strings.EqualFold(strings.TrimSpace(out[n-1]), strings.TrimSpace(p)) {
			continue
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return msg
	}
	return strings.Join(out, ": ")
}
