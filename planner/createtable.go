package planner

import (
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// modelCreate models a CREATE TABLE statement (SHOW CREATE TABLE output or a schema dump) one
// element at a time, so that a column or key the TiDB parser cannot read (a spatial column, a
// MariaDB-only attribute) costs only that element, never the whole table (issue 11: "cannot model
// … Unknown character set", "near "geometry DEFAULT NULL""). Table options are read from the
// tokens: only ENGINE, CHARSET and COLLATE matter to the rules.
func modelCreate(ps *sqlParser, st sqlStmt, defSchema string) (*table, error) {
	t := st.toks
	i := 1
	for i < len(t) && (t[i].is("OR") || t[i].is("REPLACE") || t[i].is("TEMPORARY")) {
		i++
	}
	if i >= len(t) || !t[i].is("TABLE") {
		return nil, fmt.Errorf("not a CREATE TABLE: %w", ErrUnsupported)
	}
	i++
	if i+2 < len(t) && t[i].is("IF") && t[i+1].is("NOT") && t[i+2].is("EXISTS") {
		i += 3
	}
	schema, name, rest, ok := tableRef(t[i:])
	if !ok || len(rest) == 0 || !rest[0].punct("(") {
		return nil, fmt.Errorf("a CREATE TABLE without a column list (… LIKE, … SELECT) cannot be modelled: %w", ErrUnsupported)
	}
	end := closing(rest)
	if end < 0 {
		return nil, &ParseError{Msg: "unbalanced parentheses in CREATE TABLE " + name}
	}
	tb := &table{schema: cmpOr(schema, defSchema), name: name, engine: "InnoDB"}
	tb.tableOptions(rest[end+1:])
	var keys []*ast.Constraint
	var keyFix []*fixups
	for _, el := range splitTop(rest[1:end]) {
		if len(el) == 0 {
			continue // "()" or a stray comma: nothing to model (the server refuses it anyway)
		}
		ct, fix, err := parseElement(ps, el)
		if err != nil {
			tb.opaqueElement(el, err)
			continue
		}
		for _, cd := range ct.Cols {
			tb.addColumn(cd, fix)
		}
		for _, cons := range ct.Constraints {
			keys, keyFix = append(keys, cons), append(keyFix, fix)
		}
	}
	for i, cons := range keys { // after every column: a PRIMARY KEY makes its columns NOT NULL
		tb.addConstraint(cons, keyFix[i])
	}
	return tb, nil
}

// closing is the index of the parenthesis closing toks[0].
func closing(toks []tok) int {
	depth := 0
	for i, t := range toks {
		switch {
		case t.punct("("):
			depth++
		case t.punct(")"):
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// parseElement reads one column or key definition, as written or normalized.
func parseElement(ps *sqlParser, el []tok) (*ast.CreateTableStmt, *fixups, error) {
	if len(el) == 0 {
		return nil, nil, fmt.Errorf("empty element")
	}
	ct, err := createStmt(ps, render(el))
	if err == nil {
		return ct, nil, nil
	}
	if text, fix, changed := normalize(el); changed {
		if ct, err2 := createStmt(ps, text); err2 == nil {
			return ct, fix, nil
		}
	}
	return nil, nil, err
}

func createStmt(ps *sqlParser, element string) (*ast.CreateTableStmt, error) {
	stmts, err := ps.parse("CREATE TABLE t (" + element + ")")
	if err != nil {
		return nil, err
	}
	ct, ok := stmts[0].(*ast.CreateTableStmt)
	if !ok || len(stmts) != 1 {
		return nil, fmt.Errorf("not a table element")
	}
	return ct, nil
}

// opaqueElement keeps what can be known of an element the parser cannot read: a column by its
// name and type name (so clauses naming it still resolve), nothing of a key. Either way the plan
// says so.
func (t *table) opaqueElement(el []tok, err error) {
	t.notes = append(t.notes, fmt.Sprintf("%q (%s)", abbreviate(render(el), 60), parserReason(err)))
	if isKeyStart(el[0]) {
		// Keep the key's name, so that a clause dropping or renaming it still resolves; its parts
		// are unknown, so it is never taken for gh-ost's shared key.
		for i := 0; i+1 < len(el); i++ {
			if (el[i].is("KEY") || el[i].is("INDEX")) && el[i+1].ident() && !el[i+1].is("USING") {
				t.indexes = append(t.indexes, &index{name: el[i+1].name(), expr: true})
				return
			}
		}
		return
	}
	if !el[0].ident() {
		return
	}
	c := &column{name: el[0].name(), nullable: true, native: "?"}
	if len(el) > 1 && el[1].kind == tokWord {
		c.native = strings.ToUpper(el[1].text)
	}
	for i := 1; i+1 < len(el); i++ {
		if el[i].is("NOT") && el[i+1].is("NULL") {
			c.nullable = false
		}
	}
	t.columns = append(t.columns, c)
}

func isKeyStart(t tok) bool {
	for _, w := range []string{"PRIMARY", "UNIQUE", "KEY", "INDEX", "FULLTEXT", "SPATIAL", "CONSTRAINT", "FOREIGN", "CHECK", "PERIOD", "VECTOR"} {
		if t.is(w) {
			return true
		}
	}
	return false
}

// tableOptions reads ENGINE [=] x, [DEFAULT] CHARSET|CHARACTER SET [=] x, [DEFAULT] COLLATE [=] x.
func (t *table) tableOptions(toks []tok) {
	value := func(i int) (string, int) {
		if i < len(toks) && toks[i].punct("=") {
			i++
		}
		if i < len(toks) && (toks[i].kind == tokWord || toks[i].kind == tokString || toks[i].kind == tokQuoted) {
			return strings.Trim(toks[i].text, "'\"`"), i
		}
		return "", i
	}
	depth := 0
	for i := 0; i < len(toks); i++ {
		switch {
		case toks[i].punct("("):
			depth++
		case toks[i].punct(")"):
			depth--
		}
		if depth != 0 {
			continue
		}
		switch {
		case toks[i].is("ENGINE"):
			t.engine, i = value(i + 1)
		case toks[i].is("CHARSET"):
			t.charset, i = value(i + 1)
		case toks[i].is("CHARACTER") && i+1 < len(toks) && toks[i+1].is("SET"):
			t.charset, i = value(i + 2)
		case toks[i].is("COLLATE"):
			t.collate, i = value(i + 1)
		}
	}
	t.charset, t.collate = strings.ToLower(t.charset), strings.ToLower(t.collate)
	if t.engine == "" {
		t.engine = "InnoDB"
	}
}
