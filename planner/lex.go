package planner

import (
	"fmt"
	"strings"
)

// The lexer reads SQL the way MariaDB's own lexer (sql_lex.cc) splits it, independently of the
// TiDB parser: quoting ('…' and "…" strings with backslash escapes, `…` identifiers with doubled
// backticks), comments (#, "-- ", /* */) and executable comments. It finds statement and clause
// boundaries and the target table even where the parser cannot read a clause (issue 11), and it is
// what the executed statement is built from: the user's own tokens, never SQL regenerated from an
// AST.
//
// Executable comments are resolved for the target server exactly as that server would:
// "/*! body */" always runs; "/*!NNNNN body */" (5 digits, or 6 on MariaDB, as in
// "/*!100200 … */") runs when the server's version is at least NNNNN (major*10000+minor*100+patch);
// "/*M!NNNNNN body */" the same, on MariaDB only (MySQL reads it as a plain comment). See MariaDB
// "Comment Syntax", https://mariadb.com/kb/en/comment-syntax/. An inactive one is a comment; the
// body of an active one is lexed as SQL, so what ghostgate plans and runs is what the server would
// have executed from the same text.

type tokKind uint8

const (
	tokWord   tokKind = iota // keyword, unquoted identifier or number
	tokQuoted                // `identifier`
	tokString                // 'string' or "string"
	tokPunct                 // one character of anything else
)

// tok is one token as written.
type tok struct {
	kind tokKind
	text string // the raw text, quotes included
	pos  int    // byte offset in the input
	gap  bool   // whitespace or a comment separates it from the token before
}

// is reports whether t is the keyword w (case-insensitive).
func (t tok) is(w string) bool { return t.kind == tokWord && strings.EqualFold(t.text, w) }

// punct reports whether t is the punctuation p.
func (t tok) punct(p string) bool { return t.kind == tokPunct && t.text == p }

// ident reports whether t can be an identifier.
func (t tok) ident() bool { return t.kind == tokWord || t.kind == tokQuoted }

// name is the identifier t stands for: a backquoted one without its quotes.
func (t tok) name() string {
	if t.kind == tokQuoted && len(t.text) >= 2 {
		return strings.ReplaceAll(t.text[1:len(t.text)-1], "``", "`")
	}
	return t.text
}

// sqlStmt is one statement: its text as the user wrote it and its tokens.
type sqlStmt struct {
	text string // the statement as written (comments included), without its delimiter
	pos  int    // byte offset of its first token
	from int    // byte offset where its text starts (after the previous delimiter)
	end  int    // byte offset of its end (its delimiter, or the end of the input)
	toks []tok
}

// execComment is an executable comment seen in the input.
type execComment struct {
	text   string // "/*M!100000" and so on: the opening, for messages
	pos    int
	active bool // the target server runs its body
}

// lexResult is the input split into statements.
type lexResult struct {
	stmts []sqlStmt
	execs []execComment
}

// lexer holds the state of one pass over the input.
type lexer struct {
	in    string
	srv   Server
	dump  bool // honour the client's DELIMITER command (mysqldump --routines/--triggers output)
	delim string
	res   lexResult
	cur   []tok
	start int // where the current statement's text starts
	gap   bool
	exec  bool // inside an active executable comment's body
}

// lexSQL splits in into statements for srv. dump enables the DELIMITER client command.
func lexSQL(in string, srv Server, dump bool) (lexResult, error) {
	l := &lexer{in: in, srv: srv, dump: dump, delim: ";"}
	if err := l.run(); err != nil {
		return lexResult{}, err
	}
	return l.res, nil
}

func (l *lexer) run() error {
	i := 0
	for i < len(l.in) {
		n, err := l.step(i)
		if err != nil {
			return err
		}
		i += n
	}
	if l.exec {
		return l.errAt(len(l.in), "unterminated executable comment")
	}
	l.endStmt(len(l.in))
	return nil
}

// step reads one item at i and returns its length.
func (l *lexer) step(i int) (int, error) {
	s := l.in[i:]
	c := s[0]
	switch {
	case l.dump && len(l.cur) == 0 && !l.exec && startsWord(s, "DELIMITER") && atLineStart(l.in, i):
		end := strings.IndexByte(s, '\n')
		if end < 0 {
			end = len(s)
		}
		d := strings.TrimSpace(s[len("DELIMITER"):end])
		if d == "" {
			return 0, l.errAt(i, "DELIMITER without a delimiter")
		}
		l.delim, l.start = d, i+end
		return end, nil
	case !l.exec && strings.HasPrefix(s, l.delim), l.exec && l.delim == ";" && c == ';':
		if l.exec {
			return 0, l.errAt(i, "a statement delimiter inside an executable comment")
		}
		l.endStmt(i)
		l.start = i + len(l.delim)
		return len(l.delim), nil
	case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
		l.gap = true
		return 1, nil
	case c == '#' || strings.HasPrefix(s, "--") && (len(s) == 2 || isSpaceOrCtl(s[2])):
		end := strings.IndexByte(s, '\n')
		if end < 0 {
			end = len(s)
		}
		l.gap = true
		return end, nil
	case l.exec && strings.HasPrefix(s, "*/"):
		l.exec, l.gap = false, true
		return 2, nil
	case strings.HasPrefix(s, "/*"):
		return l.comment(i)
	case c == '\'' || c == '"' || c == '`':
		n, err := quotedLen(s)
		if err != nil {
			return 0, l.errAt(i, err.Error())
		}
		kind := tokString
		if c == '`' {
			kind = tokQuoted
		}
		l.add(kind, s[:n], i)
		return n, nil
	case isWordByte(c):
		j := 1
		for j < len(s) && isWordByte(s[j]) {
			j++
		}
		l.add(tokWord, s[:j], i)
		return j, nil
	}
	l.add(tokPunct, s[:1], i)
	return 1, nil
}

// comment reads a comment at i: a plain one is skipped, an executable one is opened (its body is
// then lexed as SQL) or skipped when the target server would not run it.
func (l *lexer) comment(i int) (int, error) {
	s := l.in[i:]
	head, maria := 0, false
	switch {
	case strings.HasPrefix(s, "/*!"):
		head = 3
	case strings.HasPrefix(s, "/*M!"):
		head, maria = 4, true
	}
	if head == 0 || l.exec {
		end := strings.Index(s[2:], "*/")
		if end < 0 {
			return 0, l.errAt(i, "unterminated comment")
		}
		l.gap = true
		return end + 4, nil
	}
	digits := 0
	for digits < 6 && head+digits < len(s) && s[head+digits] >= '0' && s[head+digits] <= '9' {
		digits++
	}
	version := -1
	switch {
	case digits == 6 && (maria || l.srv.Flavor == MariaDB):
		version = atoiDigits(s[head : head+6])
	case digits >= 5:
		digits, version = 5, atoiDigits(s[head:head+5])
	default:
		digits = 0
	}
	active := (!maria || l.srv.Flavor == MariaDB) && (version < 0 || l.srv.number() >= version)
	l.res.execs = append(l.res.execs, execComment{text: s[:head+digits], pos: i, active: active})
	if !active {
		end := strings.Index(s[2:], "*/")
		if end < 0 {
			return 0, l.errAt(i, "unterminated comment")
		}
		l.gap = true
		return end + 4, nil
	}
	l.exec, l.gap = true, true
	return head + digits, nil
}

func (l *lexer) add(kind tokKind, text string, pos int) {
	l.cur = append(l.cur, tok{kind: kind, text: text, pos: pos, gap: l.gap})
	l.gap = false
}

func (l *lexer) endStmt(end int) {
	if len(l.cur) > 0 {
		l.res.stmts = append(l.res.stmts, sqlStmt{text: strings.TrimSpace(l.in[l.start:end]), pos: l.cur[0].pos, from: l.start, end: end, toks: l.cur})
	}
	l.cur, l.gap = nil, false
}

func (l *lexer) errAt(pos int, msg string) error {
	line, col := lineCol(l.in, pos)
	return &ParseError{Line: line, Column: col, Near: abbreviate(strings.TrimSpace(l.in[pos:]), 40), Msg: msg}
}

// quotedLen is the length of the quoted token at s[0]. A doubled quote stands for itself; in
// strings a backslash escapes the next byte (MariaDB's default sql_mode, no NO_BACKSLASH_ESCAPES).
func quotedLen(s string) (int, error) {
	q := s[0]
	for i := 1; i < len(s); i++ {
		switch {
		case s[i] == '\\' && q != '`':
			i++
		case s[i] == q && i+1 < len(s) && s[i+1] == q:
			i++
		case s[i] == q:
			return i + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated quote %c", q)
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isSpaceOrCtl(c byte) bool { return c <= ' ' }

func startsWord(s, w string) bool {
	return len(s) >= len(w) && strings.EqualFold(s[:len(w)], w) && (len(s) == len(w) || !isWordByte(s[len(w)]))
}

func atLineStart(in string, i int) bool {
	for j := i - 1; j >= 0; j-- {
		switch in[j] {
		case '\n':
			return true
		case ' ', '\t', '\r':
		default:
			return false
		}
	}
	return true
}

func atoiDigits(s string) int {
	n := 0
	for _, c := range []byte(s) {
		n = n*10 + int(c-'0')
	}
	return n
}

// lineCol is the 1-based line and column (in bytes) of pos.
func lineCol(in string, pos int) (int, int) {
	pos = min(pos, len(in))
	line := 1 + strings.Count(in[:pos], "\n")
	return line, pos - strings.LastIndexByte(in[:pos], '\n')
}

// render prints tokens as the user wrote them, one space where they had whitespace or a comment.
func render(toks []tok) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 && t.gap {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
	}
	return b.String()
}

// splitTop splits toks at commas outside parentheses.
func splitTop(toks []tok) [][]tok {
	var out [][]tok
	depth, from := 0, 0
	for i, t := range toks {
		switch {
		case t.punct("("):
			depth++
		case t.punct(")"):
			depth--
		case t.punct(",") && depth == 0:
			out = append(out, toks[from:i])
			from = i + 1
		}
	}
	return append(out, toks[from:])
}
