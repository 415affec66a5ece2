package planner

import (
	"errors"
	"fmt"
	"strings"
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
	// ErrProtectedSchema: a change of ghostgate's own store schema or of a system schema (mysql,
	// information_schema, performance_schema, sys), also as a rename target.
	ErrProtectedSchema = errors.New("planner: ghostgate's own and the system schemas are not changed")
	// ErrNotOnline: the user's explicit ALGORITHM/LOCK cannot be done online on this server (see
	// *NotOnlineError for the server's reason).
	ErrNotOnline = errors.New("planner: the requested algorithm is not available online")
	// ErrInternal: a bug in the planner (a recovered panic); the error names the input position.
	ErrInternal = errors.New("planner: internal error")
)

// IsRefusal reports whether err is the planner refusing its input (the caller's fault: an HTTP
// 400, a CLI usage-class error) rather than a failure to reach or read the server.
func IsRefusal(err error) bool {
	for _, s := range []error{ErrParse, ErrEmpty, ErrMultipleStatements, ErrNotSchemaChange, ErrDropTable,
		ErrUnsupported, ErrUnknownTable, ErrUnknownObject, ErrServerRejected, ErrProtectedSchema, ErrNotOnline,
		ErrInvalidOptions, ErrNoDatabase} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// ParseError says where the DDL text stops parsing.
type ParseError struct {
	Line, Column int    // 1-based; 0 when the parser did not say
	Near         string // the text from the failing point on, as the parser quotes it
	Msg          string // the parser's full message
}

func (e *ParseError) Error() string {
	if e.Line != 0 && !strings.Contains(e.Msg, "line ") {
		return fmt.Sprintf("planner: cannot parse DDL at line %d column %d: %s (near %q)", e.Line, e.Column, e.Msg, e.Near)
	}
	if e.Line == 0 {
		return fmt.Sprintf("planner: cannot parse DDL: %s", e.Msg)
	}
	return fmt.Sprintf("planner: cannot parse DDL at line %d column %d near %q", e.Line, e.Column, e.Near)
}

// Unwrap makes errors.Is(err, ErrParse) true.
func (e *ParseError) Unwrap() error { return ErrParse }

// StatementError is a refusal of one input statement.
type StatementError struct {
	Index        int    // 1-based position in the input
	Line, Column int    // where the statement starts in the input (1-based)
	Statement    string // the statement text
	Reason       string // why, for people
	Err          error  // a sentinel: ErrNotSchemaChange, ErrDropTable, ErrUnsupported, ...
}

func (e *StatementError) Error() string {
	return fmt.Sprintf("statement %d at line %d column %d (%s): %s: %v", e.Index, e.Line, e.Column, abbreviate(e.Statement, 60), e.Reason, e.Err)
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

// NotOnlineError is the server's refusal of the user's explicit ALGORITHM/LOCK on the probe clone.
type NotOnlineError struct {
	Schema, Table string
	Algorithm     Algorithm
	Reason        string // the server's text, e.g. "ALGORITHM=INSTANT is not supported. Reason: …"
}

func (e *NotOnlineError) Error() string {
	return fmt.Sprintf("planner: %s of %s was asked for, and the server refuses it with LOCK=NONE: %s", algName(e.Algorithm), qualified(e.Schema, e.Table), e.Reason)
}

// Unwrap makes errors.Is(err, ErrNotOnline) true.
func (e *NotOnlineError) Unwrap() error { return ErrNotOnline }

// InternalError is a panic inside the planner, recovered: a bug, reported with where in the input
// it happened instead of crashing the process.
type InternalError struct {
	Where string // e.g. "statement 1 at line 1 column 1"
	Value any    // the panic value
}

func (e *InternalError) Error() string {
	return fmt.Sprintf("planner: internal error while planning %s: %v (please report it with the DDL)", e.Where, e.Value)
}

// Unwrap makes errors.Is(err, ErrInternal) true.
func (e *InternalError) Unwrap() error { return ErrInternal }

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
