package planner

import (
	"fmt"
	"math"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/types"
)

// uniqueAdd is a UNIQUE or PRIMARY key the ALTER adds.
type uniqueAdd struct {
	name    string
	primary bool
	cols    []string // names in the current table; empty when a key part is new or an expression
	prefix  []int
}

// columnChange is a MODIFY/CHANGE of an existing column.
type columnChange struct {
	before, after *column
}

// analysis is what the lint and the data checks need to know about the clauses.
type analysis struct {
	uniques []uniqueAdd
	changes []columnChange
}

func analyze(old *table, specs []spec) analysis {
	var a analysis
	for _, sp := range specs {
		switch sp.Tp {
		case ast.AlterTableAddConstraint:
			if u, ok := uniqueOf(old, sp.Constraint); ok {
				a.uniques = append(a.uniques, u)
			}
		case ast.AlterTableAddColumns:
			for _, cd := range sp.NewColumns {
				a.uniques = append(a.uniques, inlineUniques(nil, cd)...)
			}
			for _, cons := range sp.NewConstraints {
				if u, ok := uniqueOf(old, cons); ok {
					a.uniques = append(a.uniques, u)
				}
			}
		case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
			name := sp.NewColumns[0].Name.Name.O
			if sp.OldColumnName != nil {
				name = sp.OldColumnName.Name.O
			}
			if before := old.column(name); before != nil {
				a.changes = append(a.changes, columnChange{before: before, after: old.newColumn(sp.NewColumns[0], sp.fix)})
				a.uniques = append(a.uniques, inlineUniques(before, sp.NewColumns[0])...)
			}
		}
	}
	return a
}

func uniqueOf(old *table, cons *ast.Constraint) (uniqueAdd, bool) {
	u := uniqueAdd{name: cons.Name}
	switch cons.Tp {
	case ast.ConstraintPrimaryKey:
		u.name, u.primary = "PRIMARY", true
	case ast.ConstraintUniq, ast.ConstraintUniqKey, ast.ConstraintUniqIndex:
	default:
		return u, false
	}
	for _, k := range cons.Keys {
		if k.Expr != nil || old.column(k.Column.Name.O) == nil {
			u.cols, u.prefix = nil, nil
			break
		}
		u.cols = append(u.cols, old.column(k.Column.Name.O).name)
		u.prefix = append(u.prefix, max(k.Length, 0))
	}
	if u.name == "" && len(cons.Keys) > 0 && cons.Keys[0].Column != nil {
		u.name = cons.Keys[0].Column.Name.O
	}
	return u, true
}

// inlineUniques: "c INT UNIQUE" / "c INT PRIMARY KEY". before is the existing column (MODIFY),
// nil for a new column (nothing to count yet).
func inlineUniques(before *column, cd *ast.ColumnDef) []uniqueAdd {
	var out []uniqueAdd
	for _, o := range cd.Options {
		if o.Tp != ast.ColumnOptionUniqKey && o.Tp != ast.ColumnOptionPrimaryKey {
			continue
		}
		u := uniqueAdd{name: cd.Name.Name.O, primary: o.Tp == ast.ColumnOptionPrimaryKey}
		if u.primary {
			u.name = "PRIMARY"
		}
		if before != nil {
			u.cols, u.prefix = []string{before.name}, []int{0}
		}
		out = append(out, u)
	}
	return out
}

// narrowing describes how after holds less than before, with the SQL condition (on the current
// column) that finds existing rows that would not fit, and its bound arguments. ok is false when
// the change does not narrow; cond is "" when the rows cannot be counted.
type narrowing struct {
	desc string
	cond string
	args []any
}

func narrows(c columnChange) (narrowing, bool) {
	a, b := c.before.ft, c.after.ft
	if a == nil || b == nil {
		return narrowing{}, false
	}
	col := quoteIdent(c.before.name)
	from, to := typeString(a), typeString(b)
	desc := fmt.Sprintf("%s %s -> %s", c.before.name, from, to)
	switch {
	case mysql.IsIntegerType(a.GetType()) && mysql.IsIntegerType(b.GetType()):
		amin, amax := intRange(a)
		bmin, bmax := intRange(b)
		if bmin <= amin && bmax >= amax {
			return narrowing{}, false
		}
		return narrowing{desc: desc, cond: col + " < ? OR " + col + " > ?", args: []any{bmin, bmax}}, true
	case isCharLike(a) && isCharLike(b):
		if maxChars(b) >= maxChars(a) {
			return narrowing{}, false
		}
		return narrowing{desc: desc, cond: "CHAR_LENGTH(" + col + ") > ?", args: []any{maxChars(b)}}, true
	case isString(a) && isString(b) && types.IsTypeBlob(b.GetType()):
		if maxBytes(b) >= maxBytes(a) {
			return narrowing{}, false
		}
		return narrowing{desc: desc, cond: "LENGTH(" + col + ") > ?", args: []any{maxBytes(b)}}, true
	case isString(a) && types.IsTypeBlob(a.GetType()) && isCharLike(b):
		return narrowing{desc: desc, cond: "CHAR_LENGTH(" + col + ") > ?", args: []any{maxChars(b)}}, true
	case a.GetType() == mysql.TypeNewDecimal && b.GetType() == mysql.TypeNewDecimal:
		if flen(b)-decimals(b) >= flen(a)-decimals(a) && decimals(b) >= decimals(a) {
			return narrowing{}, false
		}
		return narrowing{desc: desc}, true
	case (a.GetType() == mysql.TypeEnum || a.GetType() == mysql.TypeSet) && a.GetType() == b.GetType():
		if len(b.GetElems()) >= len(a.GetElems()) {
			return narrowing{}, false
		}
		return narrowing{desc: desc}, true
	}
	return narrowing{}, false
}

// intRange is the value range of an integer type (unsigned BIGINT's top is clamped to int64: it is
// only used as a bound for a narrower type).
func intRange(ft *types.FieldType) (int64, int64) {
	bits := map[byte]uint{mysql.TypeTiny: 8, mysql.TypeShort: 16, mysql.TypeInt24: 24, mysql.TypeLong: 32, mysql.TypeLonglong: 64}[ft.GetType()]
	if mysql.HasUnsignedFlag(ft.GetFlag()) {
		if bits == 64 {
			return 0, math.MaxInt64
		}
		return 0, int64(1)<<bits - 1
	}
	if bits == 64 {
		return math.MinInt64, math.MaxInt64
	}
	return -(int64(1) << (bits - 1)), int64(1)<<(bits-1) - 1
}

func isCharLike(ft *types.FieldType) bool {
	return isString(ft) && (ft.GetType() == mysql.TypeVarchar || ft.GetType() == mysql.TypeString)
}

func maxChars(ft *types.FieldType) int { return flen(ft) }

// maxBytes of a string type: the TEXT family by its type, (VAR)CHAR by characters × 4 (an upper
// bound: enough to tell TEXT -> VARCHAR(10) narrows).
func maxBytes(ft *types.FieldType) int64 {
	switch ft.GetType() {
	case mysql.TypeTinyBlob:
		return 255
	case mysql.TypeBlob:
		return 65535
	case mysql.TypeMediumBlob:
		return 1<<24 - 1
	case mysql.TypeLongBlob:
		return 1<<32 - 1
	}
	return int64(flen(ft)) * 4
}

// charsetChange describes a column's charset/collation change, "" when there is none.
func charsetChange(c columnChange) string {
	if !isString(c.before.ft) || !isString(c.after.ft) {
		return ""
	}
	b, a := c.before, c.after
	if !strings.EqualFold(b.charset, a.charset) && b.charset != "" && a.charset != "" {
		return fmt.Sprintf("%s: character set %s -> %s", b.name, b.charset, a.charset)
	}
	if a.collate != "" && b.collate != "" && !strings.EqualFold(b.collate, a.collate) {
		return fmt.Sprintf("%s: collation %s -> %s", b.name, b.collate, a.collate)
	}
	return ""
}

// typeClassChange: a conversion between type families (e.g. INT -> VARCHAR) that is neither a
// widening nor a narrowing the planner understands.
func typeClassChange(c columnChange) bool {
	a, b := c.before.ft, c.after.ft
	if a == nil || b == nil {
		return c.before.typeName() != c.after.typeName()
	}
	if sameType(a, b) {
		return false
	}
	family := func(ft *types.FieldType) string {
		switch {
		case mysql.IsIntegerType(ft.GetType()):
			return "int"
		case isString(ft) && ft.GetType() != mysql.TypeEnum && ft.GetType() != mysql.TypeSet:
			return "string"
		}
		return fmt.Sprint(ft.GetType())
	}
	return family(a) != family(b)
}
