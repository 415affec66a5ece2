package planner

import (
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
)

// The TiDB parser reads MySQL's dialect. What MariaDB 10.11 adds and the parser lacks is handled
// here, for understanding only (the statement that runs is always the user's text):
//   - column types UUID, INET4, INET6 and the spatial types (GEOMETRY, POINT, …) are read through a
//     stand-in type the parser knows and modelled as an opaque type under their own name;
//   - the attributes INVISIBLE (columns), COMPRESSED (columns) and SPATIAL (indexes) are taken out
//     before the parse and recorded; IGNORED / NOT IGNORED (indexes) are read as MySQL's
//     INVISIBLE / VISIBLE, the same thing under another name;
//   - what still does not parse is a clause "not analysed": the probe decides its strategy and
//     the plan says so (CodeNotAnalysed).
// MariaDB "Data Types", https://mariadb.com/kb/en/data-types/; "Invisible Columns",
// https://mariadb.com/kb/en/invisible-columns/; "Ignored Indexes",
// https://mariadb.com/kb/en/ignored-indexes/.

// fixups are the MariaDB details of one clause or column definition the parser did not see.
type fixups struct {
	types     map[string]string // column (lower case) -> its MariaDB type, e.g. "UUID"
	invisible bool              // an INVISIBLE column
	spatial   bool              // a SPATIAL index
}

// typeOf is the MariaDB-only type of column name, "" when it has a type the parser knows.
func (f *fixups) typeOf(name string) string {
	if f == nil {
		return ""
	}
	return f.types[strings.ToLower(name)]
}

// standIn is the type the parser reads in place of MariaDB type w, "" when w is none.
func standIn(w string) string {
	switch strings.ToUpper(w) {
	case "UUID", "INET6":
		return "BINARY(16)"
	case "INET4":
		return "INT UNSIGNED"
	case "GEOMETRY", "POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON",
		"GEOMETRYCOLLECTION", "GEOMCOLLECTION":
		return "LONGBLOB"
	}
	return ""
}

// isSpatialType reports whether a MariaDB type name is a spatial type.
func isSpatialType(native string) bool { return native != "" && standIn(native) == "LONGBLOB" }

// normalize rewrites toks into text the TiDB parser reads, recording what it took out. changed
// is false when there was nothing to rewrite.
func normalize(toks []tok) (text string, fix *fixups, changed bool) {
	fix = &fixups{types: map[string]string{}}
	out := make([]tok, 0, len(toks))
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		next := func(w string) bool { return i+1 < len(toks) && toks[i+1].is(w) }
		switch {
		case t.kind == tokWord && standIn(t.text) != "" && i > 0 && toks[i-1].ident() && !isKeyword(toks[i-1]):
			fix.types[strings.ToLower(toks[i-1].name())] = strings.ToUpper(t.text)
			t.text = standIn(t.text)
		case t.is("INVISIBLE") && !inIndexClause(toks):
			fix.invisible, changed = true, true
			continue
		case t.is("COMPRESSED"):
			changed = true
			if i+2 < len(toks) && toks[i+1].punct("=") {
				i += 2 // COMPRESSED=zlib
			}
			continue
		case t.is("IGNORED"): // MariaDB's name for MySQL's invisible index, which the parser reads
			t.text, changed = "INVISIBLE", true
		case t.is("NOT") && next("IGNORED"):
			t.text, changed, i = "VISIBLE", true, i+1
		case t.is("SPATIAL") && (next("KEY") || next("INDEX")):
			fix.spatial, changed = true, true
			continue
		}
		out = append(out, t)
	}
	return render(out), fix, changed || len(fix.types) > 0
}

// isKeyword: the words before a type that are not a column name (ADD COLUMN, MODIFY …).
func isKeyword(t tok) bool {
	if t.kind != tokWord {
		return false
	}
	switch strings.ToUpper(t.text) {
	case "ADD", "COLUMN", "MODIFY", "CHANGE", "EXISTS", "TABLE", "FIRST", "AFTER":
		return true
	}
	return false
}

// inIndexClause: INVISIBLE also exists for indexes in the parser; it is only taken out of column
// definitions.
func inIndexClause(toks []tok) bool {
	for _, t := range toks {
		if t.is("INDEX") || t.is("KEY") {
			return true
		}
		if t.punct("(") {
			return false
		}
	}
	return false
}

// parsePanicError is a panic inside the TiDB parser, turned into an error (issue 11: an 82-digit
// literal panics its test driver with "This branch is not implemented").
type parsePanicError struct{ value any }

func (e *parsePanicError) Error() string { return fmt.Sprintf("the parser failed (%v)", e.value) }

// sqlParser is one TiDB parser reused for the pieces of one input: parser.New costs ~65 µs, a
// parse of one clause ~5 µs (measured here). It is not safe for concurrent use.
type sqlParser struct{ p *parser.Parser }

// parse parses sql, turning a panic into an error; the parser is replaced after a panic, its
// state being unknown.
func (s *sqlParser) parse(sql string) (stmts []ast.StmtNode, err error) {
	defer func() {
		if r := recover(); r != nil {
			stmts, err, s.p = nil, &parsePanicError{value: r}, nil
		}
	}()
	if s.p == nil {
		s.p = parser.New()
	}
	stmts, _, err = s.p.Parse(sql, "", "")
	return stmts, err
}

// parseClause reads one ALTER TABLE clause: as written, else normalized. The error says why the
// parser cannot read it.
func parseClause(ps *sqlParser, toks []tok) ([]*ast.AlterTableSpec, *fixups, error) {
	specs, err := alterSpecs(ps, render(toks))
	if err == nil {
		return specs, nil, nil
	}
	if text, fix, changed := normalize(toks); changed {
		if specs, err2 := alterSpecs(ps, text); err2 == nil {
			return specs, fix, nil
		}
	}
	return nil, nil, err
}

func alterSpecs(ps *sqlParser, clause string) ([]*ast.AlterTableSpec, error) {
	stmts, err := ps.parse("ALTER TABLE t " + clause)
	if err != nil {
		return nil, err
	}
	if len(stmts) != 1 {
		return nil, fmt.Errorf("not one clause")
	}
	at, ok := stmts[0].(*ast.AlterTableStmt)
	if !ok || len(at.Specs) == 0 {
		return nil, fmt.Errorf("not an ALTER TABLE clause")
	}
	return at.Specs, nil
}

// parserReason shortens a parser error for a finding.
func parserReason(err error) string {
	if pe, ok := parseError(err).(*ParseError); ok && pe.Near != "" {
		return fmt.Sprintf("the parser stops near %q", pe.Near)
	}
	return abbreviate(err.Error(), 120)
}
