package planner

import (
	"errors"
	"fmt"
)

// Sentinels callers branch on (with errors.Is). The typed errors below wrap them.
var (
	// ErrParse: the DDL text does not parse (see *ParseError for where).
	ErrParse = errors.New("planner: cannot parse DDL")
	// ErrEmpty: the DDL text holds no statement.
	ErrEmpty = errors.New("planner: no statement given")
	// ErrMultipleStatements: more than one statement where one was expected.
	ErrMultipleStatements = errors.New("planner: more than one statement")
	// ErrNotSchemaChange: DML, CREATE TABLE or any statement that is not a change of an existing table.
	ErrNotSchemaChange = errors.New("planner: not a schema change of an existing table")
	// ErrDropTable: DROP TABLE or TRUNCATE TABLE without Options.AllowDropTable.
	ErrDropTable = errors.New("planner: DROP/TRUNCATE TABLE refused (needs " + FlagAllowDropTable + ")")
	// ErrUnsupported: a clause or combination the planner does not plan (partitions, a rename mixed
	// with other changes, ...).
	ErrUnsupported = errors.New("planner: unsupported change")
	// ErrUnknownTable: the statement names a table that does not exist.
	ErrUnknownTable = errors.New("planner: unknown table")
	// ErrUnknownObject: the statement names a column, index or foreign key the table does not have.
	ErrUnknownObject = errors.New("planner: unknown column, index or foreign key")
	// ErrNoDatabase: a table named without its database while no default database is set
	// (Options.Schema): a mistake in how the tool was called, not in the DDL.
	ErrNoDatabase = errors.New("planner: no database")
	// ErrServerRejected: the server refused the ALTER on the probe clone for a reason other than the
	// algorithm (the DDL itself is wrong for this table).
	ErrServerRejected = errors.New("planner: server rejected the ALTER")
)

// ParseError says where the DDL text stops parsing.
type ParseError struct {
	Line, Column int    // 1-based; 0 when the parser did not say
	Near         string // the text from the failing point on, as the parser quotes it
	Msg          string // the parser's full message
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("planner: cannot parse DDL: %s", e.Msg)
	}
	return fmt.Sprintf("planner: cannot parse DDL at line %d column %d near %q", e.Line, e.Column, e.Near)
}

// Unwrap makes errors.Is(err, ErrParse) true.
func (e *ParseError) Unwrap() error { return ErrParse }

// StatementError is a refusal of one input statement.
type StatementError struct {
	Index     int    // 1-based position in the input
	Statement string // the statement text
	Reason    string // why, for people
	Err       error  // a sentinel: ErrNotSchemaChange, ErrDropTable, ErrUnsupported, ...
}

func (e *StatementError) Error() string {
	return fmt.Sprintf("statement %d (%s): %s: %v", e.Index, abbreviate(e.Statement, 60), e.Reason, e.Err)
}

// Unwrap returns the sentinel.
func (e *StatementError) Unwrap() error { return e.Err }

// MultipleStatementsError: Options.SingleStatement and the text held Count statements.
type MultipleStatementsError struct{ Count int }

func (e *MultipleStatementsError) Error() string {
	return fmt.Sprintf("planner: expected one statement, the text holds %d (statements hidden in one string are refused)", e.Count)
}

// Unwrap makes errors.Is(err, ErrMultipleStatements) true.
func (e *MultipleStatementsError) Unwrap() error { return ErrMultipleStatements }

// NoDatabaseError names the table that has no database.
type NoDatabaseError struct{ Table string }

func (e *NoDatabaseError) Error() string {
	return fmt.Sprintf("table %s names no database and there is no default one: qualify it (db.%s) or set the default database", e.Table, e.Table)
}

// Unwrap makes errors.Is(err, ErrNoDatabase) true.
func (e *NoDatabaseError) Unwrap() error { return ErrNoDatabase }

// UnknownTableError names the missing table.
type UnknownTableError struct{ Schema, Table string }

func (e *UnknownTableError) Error() string {
	return fmt.Sprintf("planner: table %s does not exist", qualified(e.Schema, e.Table))
}

// Unwrap makes errors.Is(err, ErrUnknownTable) true.
func (e *UnknownTableError) Unwrap() error { return ErrUnknownTable }

// UnknownObjectError names a missing column, index or foreign key.
type UnknownObjectError struct {
	Kind          string // "column", "index", "foreign key"
	Schema, Table string
	Name          string
}

func (e *UnknownObjectError) Error() string {
	return fmt.Sprintf("planner: table %s has no %s %q", qualified(e.Schema, e.Table), e.Kind, e.Name)
}

// Unwrap makes errors.Is(err, ErrUnknownObject) true.
func (e *UnknownObjectError) Unwrap() error { return ErrUnknownObject }

// ServerRejectedError is the server's own refusal of the ALTER on the probe clone.
type ServerRejectedError struct {
	Schema, Table string
	Code          uint16 // MySQL/MariaDB error number, e.g. 1054 (unknown column)
	Message       string // the server's text
}

func (e *ServerRejectedError) Error() string {
	return fmt.Sprintf("planner: the server rejects this ALTER of %s: error %d: %s", qualified(e.Schema, e.Table), e.Code, e.Message)
}

// Unwrap makes errors.Is(err, ErrServerRejected) true.
func (e *ServerRejectedError) Unwrap() error { return ErrServerRejected }

func qualified(schema, table string) string {
	if schema == "" {
		return table
	}
	return schema + "." + table
}

func abbreviate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
