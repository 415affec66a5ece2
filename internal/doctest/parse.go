// Package doctest runs the commands of the project's Markdown documents, so that a document
// cannot drift from the code (issue 13: "every command and example in README.md and docs/ must
// work as written").
//
// The rules are kept small so that anyone adding a block knows what happens to it:
//
//   - Every fenced block needs a language. A block without one is an error: say ```sh for
//     commands, ```text for output.
//   - ```sh (or bash, shell) blocks are commands: they run, in document order, with bash and
//     `set -eo pipefail`, each one ending with status 0. Variables a block sets are seen by the
//     blocks after it in the same document, as when a reader types them into one shell.
//   - A command block that cannot run in a test (Kubernetes, an interactive terminal) is marked on
//     the line just before its fence, with the reason: `<!-- doctest: skip REASON -->`. A skip
//     without a reason, or a marker that is not followed by a fence, is an error.
//   - Inside a command block, a comment line `#> TEXT` is output the block must print (stdout or
//     stderr); consecutive `#>` lines are consecutive lines of output, and `…` stands for any
//     text. Other comment lines are for the reader.
//   - text, jsonc, json, go, sql and the other languages in [Shown] are shown, not run.
//
// The caller (a test) supplies the environment: a working directory, environment variables, and
// substitutions of the documented ports and database names by those of the sandbox.
package doctest

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// Languages whose blocks run.
var commandLangs = map[string]bool{"sh": true, "bash": true, "shell": true}

// Shown are the languages whose blocks are shown to the reader but not run.
var Shown = []string{"text", "jsonc", "json", "go", "sql", "yaml", "promql", "diff"}

// Block is one fenced block of a document.
type Block struct {
	File string // the document, as given to Parse
	Line int    // the line of the opening fence, 1-based
	Lang string // the first word of the info string
	Body string // the block's text, without the fences
	Skip string // the reason of a skip marker; empty when the block runs
}

// Command reports whether the block holds commands (whether it runs or is skipped).
func (b Block) Command() bool { return commandLangs[b.Lang] }

// Runs reports whether the block is run.
func (b Block) Runs() bool { return b.Command() && b.Skip == "" }

// Where is "file:line" of the block.
func (b Block) Where() string { return fmt.Sprintf("%s:%d", b.File, b.Line) }

// Expected returns the texts of the block's `#> TEXT` lines; consecutive lines are one text
// (lines of output that follow each other).
func (b Block) Expected() []string {
	var out []string
	prev := false
	for _, l := range strings.Split(b.Body, "\n") {
		t, ok := strings.CutPrefix(strings.TrimSpace(l), "#>")
		switch {
		case ok && prev:
			out[len(out)-1] += "\n" + strings.TrimSpace(t)
		case ok:
			out = append(out, strings.TrimSpace(t))
		}
		prev = ok
	}
	return out
}

var (
	fenceRE  = regexp.MustCompile("^ {0,3}(```+|~~~+)\\s*(.*)$")
	markerRE = regexp.MustCompile(`^\s*<!--\s*doctest:\s*(\S+)\s*(.*?)\s*-->\s*$`)
)

// Parse returns the fenced blocks of a Markdown document and an error naming every block that
// breaks the rules of the package doc (the caller fails on it: coverage cannot shrink silently).
func Parse(file string, src []byte) ([]Block, error) {
	var (
		blocks   []Block
		problems []string
		cur      *Block
		fence    string
		body     strings.Builder
		marker   string // a skip reason waiting for its fence
		markerAt int
	)
	bad := func(line int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s:%d: ", file, line)+fmt.Sprintf(format, args...))
	}
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if cur != nil {
			if t := strings.TrimSpace(line); strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
				cur.Body = body.String()
				blocks = append(blocks, *cur)
				cur = nil
				continue
			}
			body.WriteString(line)
			body.WriteByte('\n')
			continue
		}
		if m := fenceRE.FindStringSubmatch(line); m != nil {
			lang := ""
			if f := strings.Fields(m[2]); len(f) > 0 {
				lang = strings.ToLower(f[0])
			}
			cur = &Block{File: file, Line: n, Lang: lang, Skip: marker}
			fence, marker = m[1], ""
			body.Reset()
			checkLang(*cur, bad)
			continue
		}
		if marker != "" {
			bad(markerAt, "a doctest marker must be on the line just before a fence")
			marker = ""
		}
		if m := markerRE.FindStringSubmatch(line); m != nil {
			switch {
			case m[1] != "skip":
				bad(n, "unknown doctest marker %q (want: <!-- doctest: skip REASON -->)", m[1])
			case m[2] == "":
				bad(n, "a doctest skip needs a reason: <!-- doctest: skip REASON -->")
			default:
				marker, markerAt = m[2], n
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if cur != nil {
		bad(cur.Line, "the fence is never closed")
	}
	if marker != "" {
		bad(markerAt, "a doctest marker must be on the line just before a fence")
	}
	if len(problems) > 0 {
		return blocks, fmt.Errorf("doctest: %s", strings.Join(problems, "\n  "))
	}
	return blocks, nil
}

// checkLang reports a block whose language says neither "run me" nor "show me".
func checkLang(b Block, bad func(int, string, ...any)) {
	switch {
	case b.Lang == "":
		bad(b.Line, "a fenced block needs a language: ```sh for commands (the doc test runs them), ```text for output")
	case b.Command():
	case b.Skip != "":
		bad(b.Line, "a doctest skip marks a command block, not ```%s", b.Lang)
	default:
		for _, s := range Shown {
			if b.Lang == s {
				return
			}
		}
		bad(b.Line, "language %q is neither a command (sh, bash, shell) nor shown (%s)", b.Lang, strings.Join(Shown, ", "))
	}
}
