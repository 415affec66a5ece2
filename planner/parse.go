package planner

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // value expressions for the parser
)

// change is everything the input asks of one table, merged from one or more statements.
type change struct {
	schema, table string
	statements    []string
	specs         []*ast.AlterTableSpec // ALGORITHM/LOCK clauses of the input removed: the planner chooses
	dropTable     bool                  // DROP TABLE
	truncate      bool                  // TRUNCATE TABLE
	renameTo      *ast.TableName        // RENAME TABLE / ALTER TABLE ... RENAME TO
}

func (c *change) special() bool { return c.dropTable || c.truncate || c.renameTo != nil }

// parseDDL splits text into statements and groups them by table, refusing what cannot be planned.
func parseDDL(text string, opts Options) ([]*change, error) {
	stmts, _, err := parser.New().Parse(text, "", "")
	if err != nil {
		return nil, parseError(err)
	}
	if len(stmts) == 0 {
		return nil, ErrEmpty
	}
	if opts.SingleStatement && len(stmts) > 1 {
		return nil, &MultipleStatementsError{Count: len(stmts)}
	}
	var order []*change
	byTable := map[string]*change{}
	for i, st := range stmts {
		parts, err := statementChanges(st, opts)
		if err != nil {
			return nil, &StatementError{Index: i + 1, Statement: stmtText(st), Reason: reasonOf(err), Err: unwrapReason(err)}
		}
		for _, p := range parts {
			key := p.schema + "\x00" + strings.ToLower(p.table)
			prev, ok := byTable[key]
			if !ok {
				byTable[key] = p
				order = append(order, p)
				continue
			}
			if prev.special() || p.special() {
				return nil, &StatementError{Index: i + 1, Statement: stmtText(st),
					Reason: "a RENAME, DROP or TRUNCATE TABLE cannot be merged with other changes of " + qualified(p.schema, p.table) + "; plan it on its own",
					Err:    ErrUnsupported}
			}
			prev.statements = append(prev.statements, p.statements...)
			prev.specs = append(prev.specs, p.specs...)
		}
	}
	return order, nil
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
func statementChanges(st ast.StmtNode, opts Options) ([]*change, error) {
	text := stmtText(st)
	mk := func(tn *ast.TableName) *change {
		return &change{schema: schemaOf(tn, opts), table: tn.Name.O, statements: []string{text}}
	}
	switch s := st.(type) {
	case *ast.AlterTableStmt:
		return alterChanges(mk(s.Table), s.Specs)
	case *ast.CreateIndexStmt:
		spec, err := createIndexSpec(s)
		if err != nil {
			return nil, err
		}
		c := mk(s.Table)
		c.specs = []*ast.AlterTableSpec{spec}
		return []*change{c}, nil
	case *ast.DropIndexStmt:
		c := mk(s.Table)
		spec := &ast.AlterTableSpec{Tp: ast.AlterTableDropIndex, Name: s.IndexName, IfExists: s.IfExists}
		if strings.EqualFold(s.IndexName, "PRIMARY") {
			spec = &ast.AlterTableSpec{Tp: ast.AlterTableDropPrimaryKey}
		}
		c.specs = []*ast.AlterTableSpec{spec}
		return []*change{c}, nil
	case *ast.RenameTableStmt:
		var out []*change
		for _, tt := range s.TableToTables {
			c := mk(tt.OldTable)
			c.renameTo = tt.NewTable
			out = append(out, c)
		}
		return out, nil
	case *ast.DropTableStmt:
		if s.IsView || s.TemporaryKeyword != ast.TemporaryNone {
			return nil, refuse(ErrNotSchemaChange, "DROP VIEW / DROP TEMPORARY TABLE is not a schema change of a table")
		}
		if !opts.AllowDropTable {
			return nil, refuse(ErrDropTable, "DROP TABLE destroys the table and its data")
		}
		var out []*change
		for _, tn := range s.Tables {
			c := mk(tn)
			c.dropTable = true
			out = append(out, c)
		}
		return out, nil
	case *ast.TruncateTableStmt:
		if !opts.AllowDropTable {
			return nil, refuse(ErrDropTable, "TRUNCATE TABLE deletes every row")
		}
		c := mk(s.Table)
		c.truncate = true
		return []*change{c}, nil
	case ast.DMLNode:
		return nil, refuse(ErrNotSchemaChange, "%s changes rows, not a table's definition: run it directly, there is nothing to migrate", stmtKind(st))
	case *ast.CreateTableStmt:
		return nil, refuse(ErrNotSchemaChange, "CREATE TABLE makes a new table; run it directly, there is nothing to migrate")
	default:
		return nil, refuse(ErrNotSchemaChange, "%s is not ALTER TABLE, CREATE/DROP INDEX or RENAME TABLE", stmtKind(st))
	}
}

func stmtText(st ast.StmtNode) string {
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(st.Text()), ";"))
}

// stmtKind names a statement as SQL writes it, not as the parser's types do (issue 13: "Update
// is DML"): *ast.UpdateStmt is UPDATE, *ast.CreateDatabaseStmt CREATE DATABASE.
func stmtKind(st ast.StmtNode) string {
	k := strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%T", st), "*ast."), "Stmt")
	var b strings.Builder
	for i, r := range k {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

func schemaOf(tn *ast.TableName, opts Options) string {
	if tn.Schema.O != "" {
		return tn.Schema.O
	}
	return opts.Schema
}

// alterChanges validates the clauses of one ALTER TABLE and drops ALGORITHM/LOCK.
func alterChanges(c *change, specs []*ast.AlterTableSpec) ([]*change, error) {
	for _, sp := range specs {
		switch sp.Tp {
		case ast.AlterTableAlgorithm, ast.AlterTableLock:
			continue // the planner chooses the algorithm and always asks for LOCK=NONE
		case ast.AlterTableRenameTable:
			if len(specs) != 1 {
				return nil, refuse(ErrUnsupported, "ALTER TABLE ... RENAME TO cannot be combined with other clauses (gh-ost refuses table renames); plan the rename on its own")
			}
			c.renameTo = sp.NewTable
			return []*change{c}, nil
		case ast.AlterTableOption, ast.AlterTableAddColumns, ast.AlterTableDropColumn, ast.AlterTableDropPrimaryKey,
			ast.AlterTableDropIndex, ast.AlterTableDropForeignKey, ast.AlterTableModifyColumn, ast.AlterTableChangeColumn,
			ast.AlterTableRenameColumn, ast.AlterTableAlterColumn, ast.AlterTableRenameIndex, ast.AlterTableForce:
		case ast.AlterTableAddConstraint:
			if sp.Constraint.Tp == ast.ConstraintVector || sp.Constraint.Tp == ast.ConstraintColumnar {
				return nil, refuse(ErrUnsupported, "this index type is TiDB-only")
			}
		default:
			return nil, refuse(ErrUnsupported, "clause %q is not planned (partitions, tablespaces, ORDER BY and the like)", restoreSpec(sp))
		}
		c.specs = append(c.specs, sp)
	}
	if len(c.specs) == 0 {
		return nil, refuse(ErrUnsupported, "the ALTER TABLE changes nothing")
	}
	return []*change{c}, nil
}

// createIndexSpec turns CREATE [UNIQUE|FULLTEXT] INDEX into the equivalent ALTER TABLE ADD clause.
func createIndexSpec(s *ast.CreateIndexStmt) (*ast.AlterTableSpec, error) {
	tp := ast.ConstraintIndex
	switch s.KeyType {
	case ast.IndexKeyTypeNone:
	case ast.IndexKeyTypeUnique:
		tp = ast.ConstraintUniq
	case ast.IndexKeyTypeFulltext:
		tp = ast.ConstraintFulltext
	default:
		return nil, refuse(ErrUnsupported, "only plain, UNIQUE and FULLTEXT indexes are planned")
	}
	return &ast.AlterTableSpec{Tp: ast.AlterTableAddConstraint, Constraint: &ast.Constraint{
		IfNotExists: s.IfNotExists, Tp: tp, Name: s.IndexName, Keys: s.IndexPartSpecifications, Option: s.IndexOption,
	}}, nil
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

const restoreFlags = format.RestoreStringSingleQuotes | format.RestoreKeyWordUppercase |
	format.RestoreNameBackQuotes | format.RestoreStringWithoutDefaultCharset | format.RestoreSpacesAroundBinaryOperation

// restoreSpec prints one clause back as SQL, identifiers escaped by the parser's restorer.
func restoreSpec(sp *ast.AlterTableSpec) string {
	if sp.Tp == ast.AlterTableForce {
		return "FORCE" // the restorer prints a TiDB comment for FORCE
	}
	var b strings.Builder
	if err := sp.Restore(format.NewRestoreCtx(restoreFlags, &b)); err != nil {
		return fmt.Sprintf("/* cannot print clause: %v */", err)
	}
	return b.String()
}

// clauses is the ALTER body: every clause, comma-separated, without ALGORITHM/LOCK.
func (c *change) clauses() string {
	parts := make([]string, len(c.specs))
	for i, sp := range c.specs {
		parts[i] = restoreSpec(sp)
	}
	return strings.Join(parts, ", ")
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
