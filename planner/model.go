package planner

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/types"
)

// table is what the planner knows of a table's shape: enough to classify clauses, compute the new
// shape (for gh-ost's shared-key check) and name columns in data checks.
type table struct {
	schema, name     string
	columns          []*column
	indexes          []*index
	fks              []foreignKey
	engine           string
	charset, collate string
	notes            []string // elements of the definition the parser could not read
	triggers         []string // offline: triggers a schema dump declares on the table
}

type column struct {
	name              string
	ft                *types.FieldType // nil: a type the planner cannot model
	native            string           // a MariaDB type the parser lacks (UUID, INET6, POINT, …); ft is a stand-in
	invisible         bool
	nullable          bool
	autoInc           bool
	generated, stored bool
	charset, collate  string // effective, for string types
}

type index struct {
	name            string
	primary, unique bool
	kind            string // "", "fulltext", "spatial"
	cols            []string
	prefix          []int // prefix length per column, 0 = whole column
	expr            bool  // a functional key part: not usable as gh-ost's key, not countable
}

type foreignKey struct {
	name                string
	schema, table       string // the child (the table holding the constraint)
	refSchema, refTable string // the parent
}

func (t *table) clone() *table {
	c := *t
	c.columns = make([]*column, len(t.columns))
	for i, col := range t.columns {
		cc := *col
		c.columns[i] = &cc
	}
	c.indexes = make([]*index, len(t.indexes))
	for i, ix := range t.indexes {
		ci := *ix
		ci.cols = slices.Clone(ix.cols)
		ci.prefix = slices.Clone(ix.prefix)
		c.indexes[i] = &ci
	}
	c.fks = slices.Clone(t.fks)
	return &c
}

func (t *table) setOptions(opts []*ast.TableOption) {
	for _, o := range opts {
		switch o.Tp {
		case ast.TableOptionEngine:
			t.engine = o.StrValue
		case ast.TableOptionCharset:
			t.charset = strings.ToLower(o.StrValue)
			if o.UintValue == ast.TableOptionCharsetWithConvertTo {
				t.convertTo(t.charset, "")
			}
		case ast.TableOptionCollate:
			t.collate = strings.ToLower(o.StrValue)
		}
	}
}

// convertTo is CONVERT TO CHARACTER SET: every string column takes the new charset.
func (t *table) convertTo(cs, coll string) {
	for _, c := range t.columns {
		if isString(c.ft) {
			c.charset, c.collate = cs, coll
		}
	}
}

func (t *table) column(name string) *column {
	for _, c := range t.columns {
		if strings.EqualFold(c.name, name) {
			return c
		}
	}
	return nil
}

func (t *table) index(name string) *index {
	for _, ix := range t.indexes {
		if strings.EqualFold(ix.name, name) {
			return ix
		}
	}
	return nil
}

func (t *table) primary() *index {
	for _, ix := range t.indexes {
		if ix.primary {
			return ix
		}
	}
	return nil
}

// newColumn reads a column definition; charset defaults to the table's. fix holds what the
// parser did not see (MariaDB types and attributes).
func (t *table) newColumn(cd *ast.ColumnDef, fix *fixups) *column {
	c := &column{name: cd.Name.Name.O, ft: cd.Tp, nullable: true, native: fix.typeOf(cd.Name.Name.O), invisible: fix != nil && fix.invisible}
	if cd.Tp != nil {
		c.charset, c.collate = strings.ToLower(cd.Tp.GetCharset()), strings.ToLower(cd.Tp.GetCollate())
		if mysql.HasNotNullFlag(cd.Tp.GetFlag()) {
			c.nullable = false
		}
	}
	for _, o := range cd.Options {
		switch o.Tp {
		case ast.ColumnOptionNotNull, ast.ColumnOptionPrimaryKey:
			c.nullable = false
		case ast.ColumnOptionNull:
			c.nullable = true
		case ast.ColumnOptionAutoIncrement:
			c.autoInc = true
		case ast.ColumnOptionGenerated:
			c.generated, c.stored = true, o.Stored
		case ast.ColumnOptionCollate:
			c.collate = strings.ToLower(o.StrValue)
		}
	}
	if c.native != "" {
		c.ft, c.charset, c.collate = nil, "", "" // the stand-in type says nothing of the column
	}
	if c.ft != nil && isString(c.ft) && c.charset == "" {
		c.charset = t.charset
		if c.collate == "" {
			c.collate = t.collate
		}
	}
	return c
}

// addColumn appends a column and the keys its inline options declare.
func (t *table) addColumn(cd *ast.ColumnDef, fix *fixups) {
	t.columns = append(t.columns, t.newColumn(cd, fix))
	t.inlineKeys(cd)
}

func (t *table) inlineKeys(cd *ast.ColumnDef) {
	name := cd.Name.Name.O
	for _, o := range cd.Options {
		switch o.Tp {
		case ast.ColumnOptionPrimaryKey:
			t.indexes = append(t.indexes, &index{name: "PRIMARY", primary: true, unique: true, cols: []string{name}, prefix: []int{0}})
		case ast.ColumnOptionUniqKey:
			t.indexes = append(t.indexes, &index{name: name, unique: true, cols: []string{name}, prefix: []int{0}})
		case ast.ColumnOptionReference:
			t.fks = append(t.fks, t.foreignKey("", o.Refer))
		}
	}
}

func (t *table) foreignKey(name string, ref *ast.ReferenceDef) foreignKey {
	fk := foreignKey{name: name, schema: t.schema, table: t.name, refSchema: ref.Table.Schema.O, refTable: ref.Table.Name.O}
	if fk.refSchema == "" {
		fk.refSchema = t.schema
	}
	return fk
}

// addConstraint adds a key or foreign key declared in CREATE TABLE or ALTER TABLE ADD.
func (t *table) addConstraint(cons *ast.Constraint, fix *fixups) {
	switch cons.Tp {
	case ast.ConstraintForeignKey:
		t.fks = append(t.fks, t.foreignKey(cons.Name, cons.Refer))
		return
	case ast.ConstraintCheck:
		return
	}
	ix := &index{name: cons.Name}
	switch cons.Tp {
	case ast.ConstraintPrimaryKey:
		ix.name, ix.primary, ix.unique = "PRIMARY", true, true
	case ast.ConstraintUniq, ast.ConstraintUniqKey, ast.ConstraintUniqIndex:
		ix.unique = true
	case ast.ConstraintFulltext:
		ix.kind = "fulltext"
	}
	if fix != nil && fix.spatial {
		ix.kind = "spatial"
	}
	for _, k := range cons.Keys {
		if k.Expr != nil {
			ix.expr = true
			continue
		}
		ix.cols = append(ix.cols, k.Column.Name.O)
		ix.prefix = append(ix.prefix, max(k.Length, 0)) // the parser says -1 for "whole column"
	}
	if ix.name == "" && len(ix.cols) > 0 {
		ix.name = ix.cols[0] // MySQL names an unnamed key after its first column
	}
	if ix.primary {
		for _, c := range ix.cols {
			if col := t.column(c); col != nil {
				col.nullable = false
			}
		}
	}
	t.indexes = append(t.indexes, ix)
}

// apply changes the model as the clause would change the table.
func (t *table) apply(sp spec) error {
	missing := func(kind, name string) error {
		if sp.IfExists {
			return nil
		}
		return &UnknownObjectError{Kind: kind, Schema: t.schema, Table: t.name, Name: name}
	}
	switch sp.Tp {
	case ast.AlterTableAddColumns:
		for _, cd := range sp.NewColumns {
			if t.column(cd.Name.Name.O) != nil && sp.IfNotExists {
				continue
			}
			t.addColumn(cd, sp.fix)
		}
		for _, cons := range sp.NewConstraints {
			t.addConstraint(cons, sp.fix)
		}
	case ast.AlterTableAddConstraint:
		t.addConstraint(sp.Constraint, sp.fix)
	case ast.AlterTableDropColumn:
		name := sp.OldColumnName.Name.O
		if t.column(name) == nil {
			return missing("column", name)
		}
		t.dropColumn(name)
	case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
		old := sp.NewColumns[0].Name.Name.O
		if sp.OldColumnName != nil {
			old = sp.OldColumnName.Name.O
		}
		if t.column(old) == nil {
			return missing("column", old)
		}
		t.replaceColumn(old, sp.NewColumns[0], sp.fix)
	case ast.AlterTableRenameColumn:
		if t.column(sp.OldColumnName.Name.O) == nil {
			return missing("column", sp.OldColumnName.Name.O)
		}
		t.renameColumn(sp.OldColumnName.Name.O, sp.NewColumnName.Name.O)
	case ast.AlterTableAlterColumn:
		if t.column(sp.NewColumns[0].Name.Name.O) == nil {
			return missing("column", sp.NewColumns[0].Name.Name.O)
		}
	case ast.AlterTableDropPrimaryKey:
		if t.primary() == nil {
			return missing("index", "PRIMARY")
		}
		t.dropIndex("PRIMARY")
	case ast.AlterTableDropIndex:
		if t.index(sp.Name) == nil {
			return missing("index", sp.Name)
		}
		t.dropIndex(sp.Name)
	case ast.AlterTableRenameIndex:
		ix := t.index(sp.FromKey.O)
		if ix == nil {
			return missing("index", sp.FromKey.O)
		}
		ix.name = sp.ToKey.O
	case ast.AlterTableDropForeignKey:
		return t.dropForeignKey(sp.Name, missing)
	case ast.AlterTableOption:
		t.setOptions(sp.Options)
	}
	return nil
}

func (t *table) dropColumn(name string) {
	t.columns = slices.DeleteFunc(t.columns, func(c *column) bool { return strings.EqualFold(c.name, name) })
	// MySQL/MariaDB remove a dropped column from every key; a key left without columns goes.
	for _, ix := range t.indexes {
		for i := len(ix.cols) - 1; i >= 0; i-- {
			if strings.EqualFold(ix.cols[i], name) {
				ix.cols = slices.Delete(ix.cols, i, i+1)
				ix.prefix = slices.Delete(ix.prefix, i, i+1)
			}
		}
	}
	t.indexes = slices.DeleteFunc(t.indexes, func(ix *index) bool { return len(ix.cols) == 0 && !ix.expr })
}

func (t *table) replaceColumn(old string, cd *ast.ColumnDef, fix *fixups) {
	nc := t.newColumn(cd, fix)
	for i, c := range t.columns {
		if strings.EqualFold(c.name, old) {
			t.columns[i] = nc
		}
	}
	t.renameInIndexes(old, nc.name)
	t.inlineKeys(cd)
}

func (t *table) renameColumn(old, nw string) {
	t.column(old).name = nw
	t.renameInIndexes(old, nw)
}

func (t *table) renameInIndexes(old, nw string) {
	for _, ix := range t.indexes {
		for i, c := range ix.cols {
			if strings.EqualFold(c, old) {
				ix.cols[i] = nw
			}
		}
	}
}

func (t *table) dropIndex(name string) {
	t.indexes = slices.DeleteFunc(t.indexes, func(ix *index) bool { return strings.EqualFold(ix.name, name) })
}

func (t *table) dropForeignKey(name string, missing func(kind, name string) error) error {
	n := len(t.fks)
	t.fks = slices.DeleteFunc(t.fks, func(fk foreignKey) bool { return strings.EqualFold(fk.name, name) })
	if len(t.fks) == n {
		return missing("foreign key", name)
	}
	return nil
}

// sharedKey is gh-ost v1.1.10's choice of the key it iterates by, followed step by step (its
// go/logic/inspect.go): the candidates of each table are its unique keys (getCandidateUniqueKeys:
// NON_UNIQUE=0 in information_schema.STATISTICS, prefixes allowed), ordered PRIMARY first, then
// without nullable columns, then fewest columns; an original key is shared when its columns are a
// subset of some ghost-table unique key's columns, by name (getSharedUniqueKeys, with
// ColumnList.IsSubsetOf in go/sql/types.go), so DROP PRIMARY KEY, ADD PRIMARY KEY (id, i) keeps
// PRIMARY (id) shared; the first shared key without a FLOAT or JSON column is chosen
// (InspectOriginalAndGhostTables), and a chosen key with a nullable column makes gh-ost bail out
// without --allow-nullable-unique-key, which ghostgate never sets. It returns the chosen key's
// name, or why there is none.
func sharedKey(old, nw *table) (string, error) {
	for _, a := range old.candidateKeys() {
		if !slices.ContainsFunc(nw.candidateKeys(), func(b *index) bool { return subset(a.cols, b.cols) }) {
			continue
		}
		if old.floatOrJSON(a) {
			continue
		}
		if old.nullableKey(a) {
			return a.name, fmt.Errorf("gh-ost would iterate by %s, which has a nullable column: it bails out (--allow-nullable-unique-key is not used; NULLs would corrupt the copy)", a.name)
		}
		return a.name, nil
	}
	return "", fmt.Errorf("gh-ost needs a unique key of the original table whose columns are all in one unique key of the new table (PRIMARY KEY or UNIQUE, no FLOAT or JSON column); there is none")
}

// candidateKeys are the unique keys in gh-ost's order of preference.
func (t *table) candidateKeys() []*index {
	var out []*index
	for _, ix := range t.indexes {
		if ix.unique && !ix.expr && len(ix.cols) > 0 {
			out = append(out, ix)
		}
	}
	slices.SortStableFunc(out, func(a, b *index) int {
		switch {
		case a.primary != b.primary:
			return boolRank(a.primary)
		case t.nullableKey(a) != t.nullableKey(b):
			return -boolRank(t.nullableKey(a))
		}
		return len(a.cols) - len(b.cols)
	})
	return out
}

func boolRank(first bool) int {
	if first {
		return -1
	}
	return 1
}

func subset(a, b []string) bool {
	for _, c := range a {
		if !slices.ContainsFunc(b, func(o string) bool { return strings.EqualFold(o, c) }) {
			return false
		}
	}
	return true
}

func (t *table) nullableKey(ix *index) bool {
	for _, name := range ix.cols {
		if c := t.column(name); c == nil || c.nullable {
			return true
		}
	}
	return false
}

// floatOrJSON: gh-ost skips keys with a column whose type contains "float" or "json".
func (t *table) floatOrJSON(ix *index) bool {
	for _, name := range ix.cols {
		c := t.column(name)
		if c != nil && c.ft != nil && (c.ft.GetType() == mysql.TypeFloat || c.ft.GetType() == mysql.TypeJSON) {
			return true
		}
	}
	return false
}

func isString(ft *types.FieldType) bool {
	if ft == nil || ft.GetCharset() == "binary" {
		return false
	}
	tp := ft.GetType()
	return types.IsTypeChar(tp) || types.IsTypeBlob(tp) || tp == mysql.TypeEnum || tp == mysql.TypeSet
}

// charsetMaxLen is the most bytes one character takes; unknown sets count as 4 (the conservative
// choice: a VARCHAR length-byte change then looks likely and the rules ask for a copy).
func charsetMaxLen(cs string) int {
	switch strings.ToLower(cs) {
	case "latin1", "ascii", "binary", "latin2", "cp1250", "cp1251", "cp1252":
		return 1
	case "ucs2":
		return 2
	case "utf8", "utf8mb3":
		return 3
	default:
		return 4
	}
}

func (c *column) String() string { return c.name + " " + c.typeName() }

// typeName is the column's type for messages and comparisons: the MariaDB name when the parser
// lacks the type, "?" when it is not modelled at all.
func (c *column) typeName() string {
	switch {
	case c.native != "":
		return c.native
	case c.ft == nil:
		return "?"
	}
	return typeString(c.ft)
}
