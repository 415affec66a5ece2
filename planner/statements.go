package planner

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// alterStatement reads ALTER [ONLINE] TABLE [IF EXISTS] t [WAIT n|NOWAIT] clause, clause, …
// (MariaDB "ALTER TABLE", https://mariadb.com/kb/en/alter-table/).
func alterStatement(ps *sqlParser, t []tok, mk func(string, string) *change) ([]*change, error) {
	i := 1
	// ALTER ONLINE is LOCK=NONE (MariaDB), which every native statement of ghostgate asks for,
	// and gh-ost is online: nothing to record.
	if i < len(t) && t[i].is("ONLINE") {
		i++
	}
	if i < len(t) && t[i].is("IGNORE") {
		return nil, refuse(ErrUnsupported, "ALTER IGNORE TABLE deletes the rows that collide with a new unique key; remove IGNORE (ghostgate never drops rows silently)")
	}
	if i >= len(t) || !t[i].is("TABLE") {
		return nil, refuse(ErrNotSchemaChange, "%s is not ALTER TABLE", head(t))
	}
	i++
	if i+1 < len(t) && t[i].is("IF") && t[i+1].is("EXISTS") {
		i += 2
	}
	schema, name, rest, ok := tableRef(t[i:])
	if !ok {
		return nil, refuse(ErrUnsupported, "ALTER TABLE without a table name")
	}
	c := mk(schema, name)
	c.wait, rest = waitClause(rest)
	if len(rest) == 0 {
		return nil, refuse(ErrUnsupported, "the ALTER TABLE changes nothing")
	}
	for _, part := range splitTop(rest) {
		if err := c.addClause(ps, part); err != nil {
			return nil, err
		}
	}
	if len(c.clauses) == 0 {
		return nil, refuse(ErrUnsupported, "the ALTER TABLE changes nothing")
	}
	return []*change{c}, c.checkRename()
}

// addClause takes one clause: ALGORITHM and LOCK are the user's choice of how, the rest is what.
func (c *change) addClause(ps *sqlParser, part []tok) error {
	if len(part) == 0 {
		return refuse(ErrParse, "an empty clause (two commas, or a trailing one)")
	}
	if part[0].is("ALGORITHM") || part[0].is("LOCK") {
		return c.how(part)
	}
	cl := clause{text: render(part), pos: part[0].pos}
	specs, fix, err := parseClause(ps, part)
	switch {
	case err != nil:
		cl.note = parserReason(err)
	case !analysable(specs):
		cl.note = "the planner's rules do not model this kind of clause"
	default:
		for _, sp := range specs {
			if sp.Tp == ast.AlterTableDropIndex && strings.EqualFold(sp.Name, "PRIMARY") {
				sp.Tp = ast.AlterTableDropPrimaryKey // DROP INDEX `PRIMARY` is DROP PRIMARY KEY
			}
			cl.specs = append(cl.specs, spec{AlterTableSpec: sp, fix: fix})
		}
	}
	c.clauses = append(c.clauses, cl)
	return nil
}

// how reads ALGORITHM [=] x and LOCK [=] x. Only online choices are honoured: ghostgate never runs
// a blocking COPY or a statement that locks out writes.
func (c *change) how(part []tok) error {
	kw := strings.ToUpper(part[0].text)
	rest := part[1:]
	if len(rest) > 0 && rest[0].punct("=") {
		rest = rest[1:]
	}
	if len(rest) != 1 || rest[0].kind != tokWord {
		return refuse(ErrParse, "%s needs one value", kw)
	}
	v := strings.ToUpper(rest[0].text)
	switch {
	case v == "DEFAULT":
		return nil
	case kw == "LOCK" && v == "NONE":
		return nil // ghostgate asks for LOCK=NONE anyway
	case kw == "LOCK":
		return refuse(ErrUnsupported, "LOCK=%s blocks writes for the whole change; ghostgate runs online changes only (LOCK=NONE, or gh-ost)", v)
	}
	a := Algorithm(strings.ToLower(v))
	switch a {
	case AlgorithmInstant, AlgorithmNoCopy, AlgorithmInplace:
	case AlgorithmCopy:
		return refuse(ErrUnsupported, "ALGORITHM=COPY blocks writes for the whole copy; remove it and ghostgate copies the table online with gh-ost when the server cannot alter in place")
	default:
		return refuse(ErrParse, "unknown ALGORITHM=%s", v)
	}
	if c.algorithm != "" && c.algorithm != a {
		return refuse(ErrUnsupported, "conflicting ALGORITHM=%s and ALGORITHM=%s", strings.ToUpper(string(c.algorithm)), v)
	}
	c.algorithm = a
	return nil
}

// analysable: the kinds of clause the rules and the lint model. Others are planned unanalysed.
func analysable(specs []*ast.AlterTableSpec) bool {
	for _, sp := range specs {
		switch sp.Tp {
		case ast.AlterTableOption, ast.AlterTableAddColumns, ast.AlterTableDropColumn, ast.AlterTableDropPrimaryKey,
			ast.AlterTableDropIndex, ast.AlterTableDropForeignKey, ast.AlterTableModifyColumn, ast.AlterTableChangeColumn,
			ast.AlterTableRenameColumn, ast.AlterTableAlterColumn, ast.AlterTableRenameIndex, ast.AlterTableForce,
			ast.AlterTableRenameTable, ast.AlterTableDropCheck, ast.AlterTableIndexInvisible:
		case ast.AlterTableAddConstraint:
			if sp.Constraint.Tp == ast.ConstraintVector || sp.Constraint.Tp == ast.ConstraintColumnar {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// checkRename: ALTER TABLE … RENAME TO is a table rename, planned on its own.
func (c *change) checkRename() error {
	for _, sp := range c.specs() {
		if sp.Tp != ast.AlterTableRenameTable {
			continue
		}
		if len(c.clauses) != 1 || len(c.clauses[0].specs) != 1 {
			return refuse(ErrUnsupported, "ALTER TABLE ... RENAME TO cannot be combined with other clauses (gh-ost refuses table renames); plan the rename on its own")
		}
		c.rename, c.renameSchema, c.renameTable = true, sp.NewTable.Schema.O, sp.NewTable.Name.O
		if c.renameSchema == "" {
			c.renameSchema = c.schema
		}
		c.clauses = nil
	}
	return nil
}

// createStatement reads CREATE [OR REPLACE] [UNIQUE|FULLTEXT|SPATIAL] INDEX [IF NOT EXISTS] name
// [USING type] ON t [WAIT n|NOWAIT] (parts) [options] [ALGORITHM [=] x] [LOCK [=] x] and turns it
// into the equivalent ALTER TABLE clause, from the user's own tokens.
func createStatement(ps *sqlParser, t []tok, mk func(string, string) *change) ([]*change, error) {
	i := 1
	replace := i+1 < len(t) && t[i].is("OR") && t[i+1].is("REPLACE")
	if replace {
		i += 2
	}
	kind := ""
	if i < len(t) && (t[i].is("UNIQUE") || t[i].is("FULLTEXT") || t[i].is("SPATIAL")) {
		kind = strings.ToUpper(t[i].text) + " "
		i++
	}
	if i >= len(t) || !t[i].is("INDEX") {
		if i < len(t) && (t[i].is("TABLE") || t[i].is("TEMPORARY")) {
			return nil, refuse(ErrNotSchemaChange, "CREATE TABLE makes a new table; run it directly, there is nothing to migrate")
		}
		return nil, refuse(ErrNotSchemaChange, "%s is not ALTER TABLE, CREATE/DROP INDEX or RENAME TABLE", head(t))
	}
	on := indexWord(t, "ON")
	if on < 0 || on+1 >= len(t) {
		return nil, refuse(ErrUnsupported, "CREATE INDEX without ON <table>")
	}
	schema, name, rest, ok := tableRef(t[on+1:])
	if !ok {
		return nil, refuse(ErrUnsupported, "CREATE INDEX without ON <table>")
	}
	c := mk(schema, name)
	c.wait, rest = waitClause(rest)
	def, err := stripHow(rest, c)
	if err != nil {
		return nil, err
	}
	idx := render(t[i+1 : on]) // [IF NOT EXISTS] name [USING type]
	if replace {
		if err := c.addClause(ps, retok("DROP INDEX IF EXISTS "+indexName(t[i+1:on]))); err != nil {
			return nil, err
		}
	}
	if err := c.addClause(ps, retok("ADD "+kind+"INDEX "+idx+" "+render(def))); err != nil {
		return nil, err
	}
	return []*change{c}, nil
}

// dropStatement reads DROP INDEX [IF EXISTS] name ON t … and DROP [TEMPORARY] TABLE.
func dropStatement(ps *sqlParser, t []tok, mk func(string, string) *change, opts Options) ([]*change, error) {
	switch {
	case len(t) > 1 && t[1].is("INDEX"):
		on := indexWord(t, "ON")
		if on < 0 {
			return nil, refuse(ErrUnsupported, "DROP INDEX without ON <table>")
		}
		schema, name, rest, ok := tableRef(t[on+1:])
		if !ok {
			return nil, refuse(ErrUnsupported, "DROP INDEX without ON <table>")
		}
		c := mk(schema, name)
		c.wait, rest = waitClause(rest)
		rest, err := stripHow(rest, c)
		if err != nil {
			return nil, err
		}
		if len(rest) > 0 {
			return nil, refuse(ErrParse, "unexpected %q after DROP INDEX … ON %s", render(rest), name)
		}
		if err := c.addClause(ps, retok("DROP INDEX "+render(t[2:on]))); err != nil {
			return nil, err
		}
		return []*change{c}, nil
	case len(t) > 1 && (t[1].is("VIEW") || t[1].is("TEMPORARY")):
		return nil, refuse(ErrNotSchemaChange, "DROP VIEW / DROP TEMPORARY TABLE is not a schema change of a table")
	case len(t) > 1 && t[1].is("TABLE"):
		if !opts.AllowDropTable {
			return nil, refuse(ErrDropTable, "DROP TABLE destroys the table and its data")
		}
		rest := t[2:]
		if len(rest) > 1 && rest[0].is("IF") && rest[1].is("EXISTS") {
			rest = rest[2:]
		}
		var out []*change
		for _, part := range splitTop(rest) {
			schema, name, tail, ok := tableRef(part)
			if !ok {
				return nil, refuse(ErrParse, "DROP TABLE: a table name expected")
			}
			_, tail = waitClause(tail)
			if len(tail) > 0 && (tail[0].is("RESTRICT") || tail[0].is("CASCADE")) {
				tail = tail[1:]
			}
			if len(tail) > 0 {
				return nil, refuse(ErrParse, "DROP TABLE: unexpected %q", render(tail))
			}
			c := mk(schema, name)
			c.dropTable = true
			out = append(out, c)
		}
		return out, nil
	}
	return nil, refuse(ErrNotSchemaChange, "%s is not ALTER TABLE, CREATE/DROP INDEX or RENAME TABLE", head(t))
}

// renameStatement reads RENAME TABLE a TO b [, c TO d].
func renameStatement(t []tok, mk func(string, string) *change) ([]*change, error) {
	var out []*change
	for _, part := range splitTop(t) {
		schema, name, rest, ok := tableRef(part)
		if !ok {
			return nil, refuse(ErrParse, "RENAME TABLE: a table name expected")
		}
		_, rest = waitClause(rest)
		if len(rest) < 2 || !rest[0].is("TO") {
			return nil, refuse(ErrParse, "RENAME TABLE: %s TO <new name> expected", name)
		}
		toSchema, toName, tail, ok := tableRef(rest[1:])
		if !ok || len(tail) > 0 {
			return nil, refuse(ErrParse, "RENAME TABLE: %s TO <new name> expected", name)
		}
		c := mk(schema, name)
		c.rename, c.renameSchema, c.renameTable = true, cmpOr(toSchema, c.schema), toName
		out = append(out, c)
	}
	return out, nil
}

// stripHow takes the ALGORITHM/LOCK options out of a CREATE/DROP INDEX tail (space separated
// there) into c.
func stripHow(toks []tok, c *change) ([]tok, error) {
	var out []tok
	depth := 0
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.punct("("):
			depth++
		case t.punct(")"):
			depth--
		}
		if depth != 0 || !(t.is("ALGORITHM") || t.is("LOCK")) {
			out = append(out, t)
			continue
		}
		j := i + 1
		if j < len(toks) && toks[j].punct("=") {
			j++
		}
		if j >= len(toks) {
			return nil, refuse(ErrParse, "%s needs a value", strings.ToUpper(t.text))
		}
		if err := c.how(toks[i : j+1]); err != nil {
			return nil, err
		}
		i = j
	}
	return out, nil
}

func indexWord(t []tok, w string) int {
	for i, x := range t {
		if x.is(w) {
			return i
		}
	}
	return -1
}

// indexName is the name in "[IF NOT EXISTS] name [USING type]".
func indexName(t []tok) string {
	for len(t) > 0 && (t[0].is("IF") || t[0].is("NOT") || t[0].is("EXISTS")) {
		t = t[1:]
	}
	if len(t) == 0 {
		return ""
	}
	return t[0].text
}

// retok lexes a clause ghostgate assembled from the user's tokens.
func retok(s string) []tok {
	lx, err := lexSQL(s, Server{Flavor: MariaDB, Major: 10}, false)
	if err != nil || len(lx.stmts) != 1 {
		return nil
	}
	return lx.stmts[0].toks
}
