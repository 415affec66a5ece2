package planner

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/types"
)

// The rules below come from these pages (and were checked against MariaDB 10.11 in the sandbox):
//   - MariaDB "InnoDB Online DDL Operations with the INSTANT Alter Algorithm",
//     https://mariadb.com/kb/en/innodb-online-ddl-operations-with-the-instant-alter-algorithm/
//   - MariaDB "InnoDB Online DDL Operations with the NOCOPY Alter Algorithm",
//     https://mariadb.com/kb/en/innodb-online-ddl-operations-with-the-nocopy-alter-algorithm/
//   - MariaDB "InnoDB Online DDL Operations with the INPLACE Alter Algorithm",
//     https://mariadb.com/kb/en/innodb-online-ddl-operations-with-the-inplace-alter-algorithm/
//   - MySQL 8.0 "Online DDL Operations",
//     https://dev.mysql.com/doc/refman/8.0/en/innodb-online-ddl-operations.html
//   - MySQL 5.7 "Online DDL Operations",
//     https://dev.mysql.com/doc/refman/5.7/en/innodb-online-ddl-operations.html
// They only explain and pre-filter: when connected, the probe's answer wins.

// Algorithm is the cheapest ALTER algorithm the server accepts with LOCK=NONE.
type Algorithm string

// Algorithms, cheapest first. NOCOPY is MariaDB's name for "in place without a rebuild"; MySQL
// has no such keyword, so on MySQL an INPLACE change may or may not rebuild (see Plan.Rebuild).
// AlgorithmCopy means no online native algorithm: the change goes to gh-ost.
const (
	AlgorithmInstant Algorithm = "instant"
	AlgorithmNoCopy  Algorithm = "nocopy"
	AlgorithmInplace Algorithm = "inplace"
	AlgorithmCopy    Algorithm = "copy"
)

func (a Algorithm) rank() int {
	return slices.Index([]Algorithm{AlgorithmInstant, AlgorithmNoCopy, AlgorithmInplace, AlgorithmCopy}, a)
}

// algorithmsFor lists what the probe tries on srv, cheapest first.
func algorithmsFor(srv Server) []Algorithm {
	switch {
	case srv.Flavor == MariaDB:
		return []Algorithm{AlgorithmInstant, AlgorithmNoCopy, AlgorithmInplace}
	case srv.AtLeast(8, 0, 0):
		return []Algorithm{AlgorithmInstant, AlgorithmInplace}
	default:
		return []Algorithm{AlgorithmInplace} // MySQL 5.7 has no INSTANT
	}
}

// op is the rules' verdict on one clause.
type op struct {
	alg  Algorithm
	what string
	// columnInstant: an instant ADD/DROP/reorder of a column. Neither MariaDB nor MySQL can mix
	// these with a non-instant clause in one statement; the column change then rebuilds the table
	// (seen on MariaDB 10.11: ADD COLUMN + ADD INDEX is refused with NOCOPY, accepted with INPLACE;
	// MySQL 8.0 documents the same for ALGORITHM=INSTANT).
	columnInstant bool
}

// verdict is the rules' answer for a whole ALTER.
type verdict struct {
	alg     Algorithm
	rebuild bool   // an INPLACE that rebuilds the table (always true for AlgorithmInplace on MariaDB)
	why     string // the clause that decided
}

// rulesVerdict classifies every clause against the old shape and combines them. A clause the
// parser could not read is assumed to need a copy: only the probe can say better.
func rulesVerdict(srv Server, old *table, c *change) verdict {
	specs := c.specs()
	var ops []op
	for _, cl := range c.clauses {
		if cl.specs == nil {
			ops = append(ops, op{alg: AlgorithmCopy, what: "a clause the rules cannot read (" + abbreviate(cl.text, 40) + ") is assumed to copy"})
		}
	}
	addsPK := slices.ContainsFunc(specs, func(sp spec) bool {
		return sp.Tp == ast.AlterTableAddConstraint && sp.Constraint.Tp == ast.ConstraintPrimaryKey
	})
	for _, sp := range specs {
		ops = append(ops, classify(srv, old, sp, addsPK)...)
	}
	v := verdict{alg: AlgorithmInstant, why: "every clause is a metadata change"}
	for _, o := range ops {
		if o.alg.rank() > v.alg.rank() {
			v.alg, v.why = o.alg, o.what
		}
	}
	if v.alg != AlgorithmInstant && v.alg != AlgorithmCopy {
		for _, o := range ops {
			if o.columnInstant && v.alg.rank() < AlgorithmInplace.rank() {
				v.alg, v.why = AlgorithmInplace, o.what+" combined with a non-instant clause rebuilds the table"
			}
		}
	}
	v.rebuild = v.alg == AlgorithmInplace
	if srv.Flavor == MySQL && v.alg == AlgorithmNoCopy {
		v.alg = AlgorithmInplace // MySQL spells "in place, no rebuild" INPLACE
	}
	return v
}

// classify is the rule for one clause.
func classify(srv Server, old *table, sp spec, addsPK bool) []op {
	maria := srv.Flavor == MariaDB
	switch sp.Tp {
	case ast.AlterTableAddColumns:
		return addColumnOps(srv, sp)
	case ast.AlterTableDropColumn:
		// MariaDB 10.4+ drops columns instantly; MySQL 8.0.29+ too; older versions rebuild.
		if (maria && srv.AtLeast(10, 4, 0)) || (!maria && srv.AtLeast(8, 0, 29)) {
			return []op{{alg: AlgorithmInstant, what: "DROP COLUMN", columnInstant: true}}
		}
		return []op{{alg: AlgorithmInplace, what: "DROP COLUMN rebuilds the table"}}
	case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
		return modifyOps(srv, old, sp)
	case ast.AlterTableRenameColumn:
		return []op{renameColumnOp(srv)}
	case ast.AlterTableAlterColumn:
		return []op{instantSince(srv, "SET/DROP DEFAULT", 10, 3, 8, 0)}
	case ast.AlterTableAddConstraint:
		return []op{addConstraintOp(sp.Constraint)}
	case ast.AlterTableDropIndex:
		return []op{{alg: AlgorithmNoCopy, what: "DROP INDEX"}}
	case ast.AlterTableDropPrimaryKey:
		if addsPK {
			return []op{{alg: AlgorithmInplace, what: "replacing the PRIMARY KEY rebuilds the table"}}
		}
		return []op{{alg: AlgorithmCopy, what: "DROP PRIMARY KEY without a new one needs a table copy"}}
	case ast.AlterTableDropForeignKey:
		return []op{{alg: AlgorithmNoCopy, what: "DROP FOREIGN KEY"}}
	case ast.AlterTableRenameIndex:
		return []op{instantSince(srv, "RENAME INDEX", 10, 5, 8, 0)}
	case ast.AlterTableDropCheck:
		// Seen on MariaDB 10.11 (TestStrategyMatchesServer): DROP CONSTRAINT of a CHECK is instant.
		return []op{instantSince(srv, "DROP CONSTRAINT (CHECK)", 10, 2, 99, 0)}
	case ast.AlterTableIndexInvisible:
		// MariaDB 10.6 "Ignored Indexes"; MySQL 8.0 invisible indexes: metadata only.
		return []op{instantSince(srv, "ALTER INDEX … IGNORED / INVISIBLE", 10, 6, 8, 0)}
	case ast.AlterTableForce:
		return []op{{alg: AlgorithmInplace, what: "FORCE rebuilds the table"}}
	case ast.AlterTableOption:
		return optionOps(srv, old, sp.Options)
	}
	return []op{{alg: AlgorithmCopy, what: "unclassified clause"}}
}

// instantSince: INSTANT from MariaDB mMaj.mMin / MySQL yMaj.yMin on, in place without rebuild before.
func instantSince(srv Server, what string, mMaj, mMin, yMaj, yMin int) op {
	if (srv.Flavor == MariaDB && srv.AtLeast(mMaj, mMin, 0)) || (srv.Flavor == MySQL && srv.AtLeast(yMaj, yMin, 0)) {
		return op{alg: AlgorithmInstant, what: what}
	}
	return op{alg: AlgorithmNoCopy, what: what}
}

func renameColumnOp(srv Server) op {
	// MariaDB 10.3+ renames instantly; MySQL 8.0.28+ too, earlier in place without a rebuild.
	if srv.Flavor == MySQL && srv.AtLeast(8, 0, 0) && !srv.AtLeast(8, 0, 28) {
		return op{alg: AlgorithmNoCopy, what: "RENAME COLUMN"}
	}
	return instantSince(srv, "RENAME COLUMN", 10, 3, 8, 0)
}

func addColumnOps(srv Server, sp spec) []op {
	var ops []op
	positioned := sp.Position != nil && sp.Position.Tp != ast.ColumnPositionNone
	for _, cd := range sp.NewColumns {
		c := (&table{}).newColumn(cd, sp.fix)
		switch {
		case c.autoInc:
			ops = append(ops, op{alg: AlgorithmCopy, what: "adding an AUTO_INCREMENT column needs a table copy"})
		case c.generated && c.stored:
			ops = append(ops, op{alg: AlgorithmCopy, what: "adding a STORED generated column needs a table copy"})
		case c.generated:
			ops = append(ops, instantSince(srv, "ADD COLUMN (virtual)", 10, 3, 8, 0))
		case addColumnInstant(srv, positioned):
			ops = append(ops, op{alg: AlgorithmInstant, what: "ADD COLUMN", columnInstant: true})
		default:
			ops = append(ops, op{alg: AlgorithmInplace, what: "ADD COLUMN rebuilds the table on this version"})
		}
		for _, o := range cd.Options {
			if o.Tp == ast.ColumnOptionPrimaryKey {
				ops = append(ops, op{alg: AlgorithmInplace, what: "adding a PRIMARY KEY rebuilds the table"})
			} else if o.Tp == ast.ColumnOptionUniqKey {
				ops = append(ops, op{alg: AlgorithmNoCopy, what: "ADD UNIQUE"})
			}
		}
	}
	for _, cons := range sp.NewConstraints {
		ops = append(ops, addConstraintOp(cons))
	}
	return ops
}

// addColumnInstant: MariaDB 10.3 adds the last column instantly, 10.4+ any column; MySQL 8.0.12
// the last column, 8.0.29+ any column.
func addColumnInstant(srv Server, positioned bool) bool {
	if srv.Flavor == MariaDB {
		return srv.AtLeast(10, 4, 0) || (srv.AtLeast(10, 3, 0) && !positioned)
	}
	return srv.AtLeast(8, 0, 29) || (srv.AtLeast(8, 0, 12) && !positioned)
}

func addConstraintOp(cons *ast.Constraint) op {
	switch cons.Tp {
	case ast.ConstraintPrimaryKey:
		return op{alg: AlgorithmInplace, what: "adding a PRIMARY KEY rebuilds the table"}
	case ast.ConstraintFulltext:
		// Online, but only with LOCK=SHARED: writes would block ("Fulltext index creation requires a lock").
		return op{alg: AlgorithmCopy, what: "ADD FULLTEXT INDEX cannot run with LOCK=NONE"}
	case ast.ConstraintForeignKey:
		return op{alg: AlgorithmCopy, what: "ADD FOREIGN KEY copies the table unless foreign_key_checks=0"}
	case ast.ConstraintCheck:
		return op{alg: AlgorithmCopy, what: "ADD CHECK validates every row in a table copy"}
	}
	return op{alg: AlgorithmNoCopy, what: "ADD INDEX builds the index in place"}
}

func optionOps(srv Server, old *table, opts []*ast.TableOption) []op {
	var ops []op
	for _, o := range opts {
		switch o.Tp {
		case ast.TableOptionEngine:
			if strings.EqualFold(o.StrValue, old.engine) {
				ops = append(ops, op{alg: AlgorithmInplace, what: "ENGINE=" + o.StrValue + " (same engine) rebuilds the table"})
			} else {
				ops = append(ops, op{alg: AlgorithmCopy, what: "changing the storage engine copies the table"})
			}
		case ast.TableOptionCharset, ast.TableOptionCollate:
			switch {
			case o.UintValue == ast.TableOptionCharsetWithConvertTo:
				ops = append(ops, op{alg: AlgorithmCopy, what: "CONVERT TO CHARACTER SET rewrites every string column"})
			case srv.Flavor == MariaDB:
				ops = append(ops, op{alg: AlgorithmInstant, what: "table default charset/collation"})
			default:
				// MySQL: "Specifying a character set ... Rebuilds Table: Yes".
				ops = append(ops, op{alg: AlgorithmInplace, what: "changing the table character set rebuilds the table"})
			}
		case ast.TableOptionComment, ast.TableOptionAutoIncrement:
			ops = append(ops, instantSince(srv, "table COMMENT / AUTO_INCREMENT", 10, 3, 99, 0))
		case ast.TableOptionRowFormat, ast.TableOptionKeyBlockSize:
			ops = append(ops, op{alg: AlgorithmInplace, what: "ROW_FORMAT / KEY_BLOCK_SIZE rebuilds the table"})
		case ast.TableOptionStatsPersistent, ast.TableOptionStatsAutoRecalc, ast.TableOptionStatsSamplePages:
			ops = append(ops, op{alg: AlgorithmNoCopy, what: "persistent statistics options"})
		default:
			ops = append(ops, op{alg: AlgorithmCopy, what: "table option not covered by the rules (assumed to copy)"})
		}
	}
	return ops
}

// modifyOps compares the column's old and new definitions (MODIFY / CHANGE).
func modifyOps(srv Server, old *table, sp spec) []op {
	oldName := sp.NewColumns[0].Name.Name.O
	if sp.OldColumnName != nil {
		oldName = sp.OldColumnName.Name.O
	}
	before := old.column(oldName)
	if before == nil {
		return []op{{alg: AlgorithmCopy, what: "MODIFY of an unknown column"}}
	}
	after := old.newColumn(sp.NewColumns[0], sp.fix)
	var ops []op
	if !strings.EqualFold(before.name, after.name) {
		ops = append(ops, renameColumnOp(srv))
	}
	if sp.Position != nil && sp.Position.Tp != ast.ColumnPositionNone {
		// MariaDB 10.4+ reorders columns instantly; MySQL rebuilds.
		if srv.Flavor == MariaDB && srv.AtLeast(10, 4, 0) {
			ops = append(ops, op{alg: AlgorithmInstant, what: "reordering a column", columnInstant: true})
		} else {
			ops = append(ops, op{alg: AlgorithmInplace, what: "reordering a column rebuilds the table"})
		}
	}
	if before.nullable != after.nullable {
		// NULL <-> NOT NULL rebuilds in place on both flavors (MariaDB 10.11 refused NOCOPY for either
		// direction on a DYNAMIC table in the sandbox). NOT NULL needs strict sql_mode to stay online.
		ops = append(ops, op{alg: AlgorithmInplace, what: "changing NULL-ability rebuilds the table"})
	}
	if !before.autoInc && after.autoInc {
		ops = append(ops, op{alg: AlgorithmCopy, what: "adding AUTO_INCREMENT needs a table copy"})
	}
	return append(ops, typeChangeOp(srv, before, after))
}

// typeChangeOp: same type is metadata only; VARCHAR growth, ENUM/SET append and (MariaDB) a
// collation change within a charset avoid the copy; everything else copies.
func typeChangeOp(srv Server, before, after *column) op {
	maria := srv.Flavor == MariaDB
	a, b := before.ft, after.ft
	if a == nil || b == nil {
		if before.typeName() == after.typeName() && before.typeName() != "?" {
			return instantSince(srv, "column default/comment", 10, 3, 8, 0)
		}
		return op{alg: AlgorithmCopy, what: fmt.Sprintf("changing %s from %s to %s (a type the rules do not model) is assumed to copy the table", after.name, before.typeName(), after.typeName())}
	}
	charsetSame := !isString(a) || (strings.EqualFold(before.charset, after.charset))
	collSame := !isString(a) || after.collate == "" || before.collate == "" || strings.EqualFold(before.collate, after.collate)
	if !charsetSame {
		return op{alg: AlgorithmCopy, what: "changing a column's character set copies the table"}
	}
	switch {
	case sameType(a, b) && collSame:
		return instantSince(srv, "column default/comment", 10, 3, 8, 0)
	case sameType(a, b):
		if maria {
			return op{alg: AlgorithmNoCopy, what: "changing a column's collation (same charset)"}
		}
		return op{alg: AlgorithmCopy, what: "changing a column's collation copies the table"}
	case a.GetType() == mysql.TypeVarchar && b.GetType() == mysql.TypeVarchar && flen(b) > flen(a) && collSame:
		return varcharExtendOp(srv, before, after)
	case (a.GetType() == mysql.TypeEnum || a.GetType() == mysql.TypeSet) && a.GetType() == b.GetType() &&
		len(b.GetElems()) > len(a.GetElems()) && slices.Equal(a.GetElems(), b.GetElems()[:len(a.GetElems())]):
		return instantSince(srv, "appending ENUM/SET values", 10, 3, 8, 0)
	}
	return op{alg: AlgorithmCopy, what: fmt.Sprintf("changing %s from %s to %s copies the table", after.name, typeString(a), typeString(b))}
}

// varcharExtendOp: InnoDB stores a VARCHAR length in 1 byte while the column's maximum is <= 255
// bytes, in 2 bytes above. MySQL allows an in-place extension only within one class. MariaDB
// 10.4+ extends instantly, also from <= 127 bytes to > 255 (a short value's length still fits one
// byte; seen in the sandbox: VARCHAR(20)->VARCHAR(100) utf8mb4 is INSTANT on 10.11).
func varcharExtendOp(srv Server, before, after *column) op {
	mul := charsetMaxLen(before.charset)
	ob, nb := before.ft.GetFlen()*mul, after.ft.GetFlen()*mul
	sameClass := (ob <= 255) == (nb <= 255)
	if srv.Flavor == MariaDB && srv.AtLeast(10, 4, 0) && (sameClass || ob <= 127) {
		return op{alg: AlgorithmInstant, what: "extending a VARCHAR"}
	}
	if sameClass {
		return op{alg: AlgorithmNoCopy, what: "extending a VARCHAR"}
	}
	return op{alg: AlgorithmCopy, what: "extending a VARCHAR across 255 bytes changes its length prefix and copies the table"}
}

func sameType(a, b *types.FieldType) bool {
	return a.GetType() == b.GetType() && flen(a) == flen(b) && decimals(a) == decimals(b) &&
		mysql.HasUnsignedFlag(a.GetFlag()) == mysql.HasUnsignedFlag(b.GetFlag()) && slices.Equal(a.GetElems(), b.GetElems())
}

// flen is the length that matters for storage: integer display widths (INT(11)) do not, and an
// unspecified length means the type's default.
func flen(ft *types.FieldType) int {
	tp := ft.GetType()
	switch {
	case mysql.IsIntegerType(tp):
		return 0
	case ft.GetFlen() != types.UnspecifiedLength:
		return ft.GetFlen()
	case tp == mysql.TypeNewDecimal:
		return 10
	case tp == mysql.TypeString:
		return 1
	}
	return 0
}

func decimals(ft *types.FieldType) int {
	if ft.GetDecimal() == types.UnspecifiedLength {
		return 0
	}
	return ft.GetDecimal()
}

func typeString(ft *types.FieldType) string { return strings.ToUpper(ft.CompactStr()) }
