package planner

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // value expressions for the parser
)

// spec is one clause the parser read, with the MariaDB details it did not see.
type spec struct {
	*ast.AlterTableSpec
	fix *fixups
}

// clause is one comma-separated part of an ALTER TABLE as the user wrote it. The text is what
// runs; specs are the parser's reading of it, nil when the parser cannot read it.
type clause struct {
	text  string
	pos   int // byte offset in the input
	specs []spec
	note  string // why it was not analysed
}

// change is everything the input asks of one table, merged from one or more statements.
type change struct {
	schema, table string
	statements    []string
	clauses       []clause
	algorithm     Algorithm // the user's explicit ALGORITHM, "" when none (or DEFAULT)
	wait          string    // the user's WAIT n / NOWAIT, for the native statement
	dropTable     bool      // DROP TABLE
	truncate      bool      // TRUNCATE TABLE
	rename        bool      // RENAME TABLE / ALTER TABLE ... RENAME TO
	renameSchema  string
	renameTable   string
	spans         [][2]int // byte ranges of its statements in the input
	at            int      // byte offset of the first statement's first token
}

func (c *change) pos() int { return c.at }

// covers reports whether byte offset pos lies in one of the change's statements.
func (c *change) covers(pos int) bool {
	for _, s := range c.spans {
		if pos >= s[0] && pos < s[1] {
			return true
		}
	}
	return false
}

// waitPrefix is the user's "WAIT n " / "NOWAIT ", "" when none.
func (c *change) waitPrefix() string {
	if c.wait == "" {
		return ""
	}
	return c.wait + " "
}

func (c *change) special() bool { return c.dropTable || c.truncate || c.rename }

// specs are the clauses the parser read, in order.
func (c *change) specs() []spec {
	var out []spec
	for _, cl := range c.clauses {
		out = append(out, cl.specs...)
	}
	return out
}

// body is the ALTER body: every clause as written, comma-separated, without ALGORITHM/LOCK.
func (c *change) body() string {
	parts := make([]string, len(c.clauses))
	for i, cl := range c.clauses {
		parts[i] = cl.text
	}
	return strings.Join(parts, ", ")
}

// merge adds the clauses of o (the same table) to c.
func (c *change) merge(o *change) error {
	switch {
	case c.special() || o.special():
		return refuse(ErrUnsupported, "a RENAME, DROP or TRUNCATE TABLE cannot be merged with other changes of %s; plan it on its own", qualified(o.schema, o.table))
	case c.algorithm != "" && o.algorithm != "" && c.algorithm != o.algorithm:
		return refuse(ErrUnsupported, "statements on %s ask for different algorithms (%s, %s)", qualified(o.schema, o.table), c.algorithm, o.algorithm)
	case c.wait != "" && o.wait != "" && !strings.EqualFold(c.wait, o.wait):
		return refuse(ErrUnsupported, "statements on %s ask for different lock waits (%s, %s)", qualified(o.schema, o.table), c.wait, o.wait)
	}
	c.statements = append(c.statements, o.statements...)
	c.spans = append(c.spans, o.spans...)
	c.clauses = append(c.clauses, o.clauses...)
	c.algorithm = cmpOr(c.algorithm, o.algorithm)
	c.wait = cmpOr(c.wait, o.wait)
	return nil
}

func cmpOr[T comparable](a, b T) T {
	var zero T
	if a != zero {
		return a
	}
	return b
}

// parsed is the input's changes and what the lexer saw on the way.
type parsed struct {
	changes []*change
	execs   []execComment
}

// parseDDL splits text into statements for srv and groups them by table, refusing what cannot be
// planned.
func parseDDL(text string, opts Options, srv Server) (parsed, error) {
	lx, err := lexSQL(text, srv, false)
	if err != nil {
		return parsed{}, err
	}
	if len(lx.stmts) == 0 {
		return parsed{}, ErrEmpty
	}
	if opts.SingleStatement && len(lx.stmts) > 1 {
		return parsed{}, &MultipleStatementsError{Count: len(lx.stmts)}
	}
	out := parsed{execs: lx.execs}
	byTable := map[string]*change{}
	ps := &sqlParser{}
	for i, st := range lx.stmts {
		parts, err := statementChanges(ps, st, opts)
		if err == nil {
			err = protect(parts, opts)
		}
		if err != nil {
			return parsed{}, stmtError(text, i, st, err)
		}
		for _, p := range parts {
			key := tableKey(p.schema, p.table)
			prev, ok := byTable[key]
			if !ok {
				byTable[key] = p
				out.changes = append(out.changes, p)
				continue
			}
			if err := prev.merge(p); err != nil {
				return parsed{}, stmtError(text, i, st, err)
			}
		}
	}
	return out, nil
}

func stmtError(in string, i int, st sqlStmt, err error) error {
	line, col := lineCol(in, st.pos)
	return &StatementError{Index: i + 1, Line: line, Column: col, Statement: st.text, Reason: reasonOf(err), Err: unwrapReason(err)}
}

// reasonError carries a human reason with a sentinel.
type reasonError struct {
	reason string
	err    error
}

func (e *reasonError) Error() string { return e.reason + ": " + e.err.Error() }

func refuse(sentinel error, format string, args ...any) error {
	return &reasonError{reason: fmt.Sprintf(format, args...), err: sentinel}
}

func reasonOf(err error) string {
	if r, ok := err.(*reasonError); ok {
		return r.reason
	}
	return "refused"
}

func unwrapReason(err error) error {
	if r, ok := err.(*reasonError); ok {
		return r.err
	}
	return err
}

// statementChanges turns one statement into per-table changes.
func statementChanges(ps *sqlParser, st sqlStmt, opts Options) ([]*change, error) {
	t := st.toks
	mk := func(schema, name string) *change {
		if schema == "" {
			schema = opts.Schema
		}
		return &change{schema: schema, table: name, statements: []string{st.text}, at: st.pos, spans: [][2]int{{st.from, st.end}}}
	}
	switch {
	case t[0].is("ALTER"):
		return alterStatement(ps, t, mk)
	case t[0].is("CREATE"):
		return createStatement(ps, t, mk)
	case t[0].is("DROP"):
		return dropStatement(ps, t, mk, opts)
	case t[0].is("RENAME") && len(t) > 1 && t[1].is("TABLE"):
		return renameStatement(t[2:], mk)
	case t[0].is("TRUNCATE"):
		if !opts.AllowDropTable {
			return nil, refuse(ErrDropTable, "TRUNCATE TABLE deletes every row")
		}
		rest := t[1:]
		if len(rest) > 0 && rest[0].is("TABLE") {
			rest = rest[1:]
		}
		schema, name, rest, ok := tableRef(rest)
		if !ok || !onlyWait(rest) {
			return nil, refuse(ErrUnsupported, "TRUNCATE TABLE takes one table name")
		}
		c := mk(schema, name)
		c.truncate = true
		return []*change{c}, nil
	case isDML(t[0]):
		return nil, refuse(ErrNotSchemaChange, "%s changes rows, not a table's definition: run it directly, there is nothing to migrate", strings.ToUpper(t[0].text))
	}
	return nil, refuse(ErrNotSchemaChange, "%s is not ALTER TABLE, CREATE/DROP INDEX or RENAME TABLE", head(t))
}

func isDML(t tok) bool {
	switch strings.ToUpper(t.text) {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "LOAD", "CALL", "DO", "WITH", "HANDLER", "VALUES", "TABLE":
		return t.kind == tokWord
	}
	return false
}

// head is the statement's first words, for messages.
func head(t []tok) string {
	n := min(len(t), 2)
	return strings.ToUpper(render(t[:n]))
}

// tableRef reads `schema`.`table` or table at the start of toks.
func tableRef(toks []tok) (schema, name string, rest []tok, ok bool) {
	if len(toks) == 0 || !toks[0].ident() {
		return "", "", toks, false
	}
	if len(toks) >= 3 && toks[1].punct(".") && toks[2].ident() && !toks[1].gap && !toks[2].gap {
		return toks[0].name(), toks[2].name(), toks[3:], true
	}
	return "", toks[0].name(), toks[1:], true
}

// waitClause reads MariaDB's WAIT n / NOWAIT at the start of toks.
func waitClause(toks []tok) (string, []tok) {
	switch {
	case len(toks) > 0 && toks[0].is("NOWAIT"):
		return "NOWAIT", toks[1:]
	case len(toks) > 1 && toks[0].is("WAIT") && toks[1].kind == tokWord:
		return "WAIT " + toks[1].text, toks[2:]
	}
	return "", toks
}

func onlyWait(toks []tok) bool {
	_, rest := waitClause(toks)
	return len(rest) == 0
}

var parseErrRE = regexp.MustCompile(`line (\d+) column (\d+) near "((?s).*)"`)

// parseError turns the TiDB parser's message ("line 3 column 7 near "= 3" ") into a *ParseError.
func parseError(err error) error {
	msg := err.Error()
	pe := &ParseError{Msg: msg}
	if m := parseErrRE.FindStringSubmatch(msg); m != nil {
		pe.Line, _ = strconv.Atoi(m[1])
		pe.Column, _ = strconv.Atoi(m[2])
		pe.Near = abbreviate(strings.TrimSpace(m[3]), 40)
	}
	return pe
}

// quoteIdent escapes one identifier with backticks, doubling inner backticks.
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// quoteTable is `schema`.`table`, or `table` when schema is empty.
func quoteTable(schema, table string) string {
	if schema == "" {
		return quoteIdent(table)
	}
	return quoteIdent(schema) + "." + quoteIdent(table)
}
