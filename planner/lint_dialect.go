package planner

import (
	"fmt"
	"strings"
)

// Finding codes of the MariaDB dialect and of gh-ost v1.1.10 (issues 8 and 11).
const (
	CodeNotAnalysed           = "clause_not_analysed"
	CodeExecComment           = "executable_comment"
	CodeExplicitAlgorithm     = "explicit_algorithm"
	CodeLockWait              = "lock_wait_clause"
	CodePerformanceSchemaOff  = "ghost_performance_schema_off"
	CodeDefinitionNotModelled = "definition_not_modelled"
)

// notAnalysed names every clause the parser could not read, and every element of the table's
// definition it could not model: they are planned (the probe decides), but not linted.
func notAnalysed(old *table, c *change) []Finding {
	var out []Finding
	for _, cl := range c.clauses {
		if cl.specs != nil {
			continue
		}
		out = append(out, Finding{Code: CodeNotAnalysed, Severity: SeverityInfo, Message: fmt.Sprintf(
			"clause not analysed: lint skipped for it (%q: %s); it runs as written and the server decides how", abbreviate(cl.text, 60), cl.note)})
	}
	for _, n := range old.notes {
		out = append(out, Finding{Code: CodeDefinitionNotModelled, Severity: SeverityInfo, Message: "part of the table's definition not modelled, lint does not see it: " + n})
	}
	if c.wait != "" {
		out = append(out, Finding{Code: CodeLockWait, Severity: SeverityInfo, Message: c.wait +
			" applies to the native statement's metadata lock; gh-ost uses its own cut-over lock timeout"})
	}
	return out
}

// execFindings say which executable comments the target server runs, and which it ignores: what
// ghostgate plans is what the server would run from the same text.
func execFindings(in string, execs []execComment, srv Server, c *change) []Finding {
	var out []Finding
	for _, e := range execs {
		if !c.covers(e.pos) {
			continue // a comment of another table's statement
		}
		line, col := lineCol(in, e.pos)
		verb := "ignores"
		if e.active {
			verb = "runs"
		}
		out = append(out, Finding{Code: CodeExecComment, Severity: SeverityInfo, Message: fmt.Sprintf(
			"executable comment %s…*/ at line %d column %d: %s %s its body, and so does this plan", e.text, line, col, srv, verb)})
	}
	return out
}

// performanceSchemaFinding: gh-ost v1.1.10's atomic cut-over on MariaDB guards against its race
// with a metadata-lock check that reads performance_schema (gh-ost PR #1536; issue 8). Without
// it, a DML waiting on the original table could run against the old table after the magic-table
// drop. ghostgate's worker closes the race without performance_schema (runner/ghost
// renameguard.go) and proves each cut-over from the binlog; the finding says which guard runs.
func performanceSchemaFinding(srv Server, perf *bool) []Finding {
	if srv.Flavor != MariaDB || perf == nil || *perf {
		return nil
	}
	return []Finding{{Code: CodePerformanceSchemaOff, Severity: SeverityInfo, Message: strings.Join([]string{
		"the server runs with performance_schema=OFF, so gh-ost's own metadata-lock check cannot run at the cut-over;",
		"without a check, a write waiting on the original table could run against the old table and be lost.",
		"ghostgate's rename guard checks instead (it holds the unlock until gh-ost's RENAME is first in line for the table,",
		"and abandons the attempt when it is not), and the binlog audit after the rename proves that no write reached the old table.",
		"To have gh-ost's check as well: set performance_schema=ON in the server's configuration (a static setting: needs a restart)",
	}, " ")}}
}
