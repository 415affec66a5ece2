package native

import (
	"fmt"
	"strings"
)

type tokenKind int

const (
	kindWord   tokenKind = iota // unquoted identifier or keyword
	kindQuoted                  // `quoted identifier`
	kindString                  // 'string' or "string"
	kindPunct                   // anything else, one character
)

type token struct {
	kind tokenKind
	text string // unquoted content for kindQuoted
}

func (t token) word(w string) bool  { return t.kind == kindWord && strings.EqualFold(t.text, w) }
func (t token) punct(p string) bool { return t.kind == kindPunct && t.text == p }
func (t token) ident() bool         { return t.kind == kindWord || t.kind == kindQuoted }
func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}
func errStmt(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrStatement}, a...)...)
}

// tokenize splits one SQL statement into tokens, dropping comments and one trailing semicolon.
// A second statement and MariaDB/MySQL executable comments (/*! … */, /*M! … */, whose content
// the server runs) are refused: they could hide a clause from this reading.
func tokenize(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#' || strings.HasPrefix(s[i:], "-- ") || strings.HasPrefix(s[i:], "--\n") || s[i:] == "--":
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case strings.HasPrefix(s[i:], "/*"):
			if strings.HasPrefix(s[i:], "/*!") || strings.HasPrefix(s[i:], "/*M!") {
				return nil, errStmt("executable comments are not supported")
			}
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, errStmt("unterminated comment")
			}
			i += end + 4
		case c == '\'' || c == '"' || c == '`':
			text, n, err := quoted(s[i:])
			if err != nil {
				return nil, err
			}
			kind := kindString
			if c == '`' {
				kind = kindQuoted
			}
			toks = append(toks, token{kind: kind, text: text})
			i += n
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, token{kind: kindWord, text: s[i:j]})
			i = j
		case c == ';':
			if rest, err := tokenize(s[i+1:]); err != nil || len(rest) > 0 {
				return nil, errStmt("more than one statement")
			}
			return toks, nil
		default:
			toks = append(toks, token{kind: kindPunct, text: string(c)})
			i++
		}
	}
	return toks, nil
}

// quoted reads a quoted token starting at s[0], returning its content and length. A doubled
// quote stands for itself; in strings a backslash escapes the next byte (the default sql_mode).
func quoted(s string) (string, int, error) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch {
		case s[i] == '\\' && q != '`' && i+1 < len(s):
			b.WriteByte(s[i+1])
			i++
		case s[i] == q && i+1 < len(s) && s[i+1] == q:
			b.WriteByte(q)
			i++
		case s[i] == q:
			return b.String(), i + 1, nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, errStmt("unterminated quote %c", q)
}
