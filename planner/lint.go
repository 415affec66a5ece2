package planner

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// Finding codes. Stable: CI configurations and the README refer to them.
const (
	CodeDropColumn        = "destructive_drop_column"
	CodeDropIndex         = "destructive_drop_index"
	CodeDropPrimaryKey    = "destructive_drop_primary_key"
	CodeDropTable         = "destructive_drop_table"
	CodeTruncateTable     = "destructive_truncate_table"
	CodeRenameColumn      = "incompatible_rename_column"
	CodeRenameTable       = "incompatible_rename_table"
	CodeUniqueDuplicates  = "unique_duplicates"
	CodeUniqueUnchecked   = "unique_unchecked"
	CodeUniqueChecked     = "unique_no_duplicates"
	CodeNotNull           = "not_null_change"
	CodeNarrowingDataLoss = "narrowing_data_loss"
	CodeNarrowing         = "narrowing_type"
	CodeCharsetChange     = "charset_change"
	CodeTypeChange        = "type_change"
	CodeNoSharedKey       = "ghost_no_shared_key"
	CodeForeignKeys       = "ghost_foreign_keys"
	CodeTriggers          = "ghost_triggers"
	CodeRebuildLag        = "inplace_rebuild_replica_lag"
	CodeDisagreement      = "rules_probe_disagreement"
	CodeProbeSkipped      = "probe_skipped"
	CodeTableSize         = "table_size"
	CodeOffline           = "offline_unchecked"
)

// facts are what the planner learned about the table beyond its definition. Offline, only fks is
// known (from the CREATE TABLE text).
type facts struct {
	connected bool
	size      *Size
	triggers  []string
	// schemaTriggers are the names of every trigger in the table's schema (names are per schema).
	schemaTriggers []string
	fks            []foreignKey     // constraints in either direction
	duplicates     map[string]int64 // unique key name -> rows beyond the first of each duplicate group
	misfits        map[string]int64 // column (current name) -> rows that would not fit the new definition
}

// clauseFindings are the findings that follow from the clauses alone and the data checks.
func clauseFindings(old *table, specs []spec, an analysis, f facts) []Finding {
	var out []Finding
	for _, sp := range specs {
		if absent(old, sp) {
			continue // DROP … IF EXISTS of something that is not there does nothing
		}
		out = append(out, specFindings(sp)...)
	}
	for _, u := range an.uniques {
		out = append(out, uniqueFinding(u, f))
	}
	for _, c := range an.changes {
		out = append(out, changeFindings(c, f)...)
	}
	return out
}

func absent(old *table, sp spec) bool {
	switch sp.Tp {
	case ast.AlterTableDropColumn:
		return old.column(sp.OldColumnName.Name.O) == nil
	case ast.AlterTableDropIndex:
		return old.index(sp.Name) == nil
	}
	return false
}

func specFindings(sp spec) []Finding {
	switch sp.Tp {
	case ast.AlterTableDropColumn:
		return []Finding{{Code: CodeDropColumn, Severity: SeverityError, Override: FlagAllowDestructive,
			Message: fmt.Sprintf("DROP COLUMN %s destroys its data; applications still reading it break", sp.OldColumnName.Name.O)}}
	case ast.AlterTableDropIndex:
		return []Finding{{Code: CodeDropIndex, Severity: SeverityWarning,
			Message: fmt.Sprintf("DROP INDEX %s: queries using it slow down; a unique index also stops enforcing uniqueness", sp.Name)}}
	case ast.AlterTableDropPrimaryKey:
		return []Finding{{Code: CodeDropPrimaryKey, Severity: SeverityError, Override: FlagAllowDestructive,
			Message: "DROP PRIMARY KEY removes the row identity (replication and gh-ost rely on it)"}}
	case ast.AlterTableRenameColumn:
		return []Finding{renameColumnFinding(sp.OldColumnName.Name.O, sp.NewColumnName.Name.O)}
	case ast.AlterTableChangeColumn:
		if from, to := sp.OldColumnName.Name.O, sp.NewColumns[0].Name.Name.O; !strings.EqualFold(from, to) {
			return []Finding{renameColumnFinding(from, to)}
		}
	case ast.AlterTableOption:
		for _, o := range sp.Options {
			if o.Tp == ast.TableOptionCharset && o.UintValue == ast.TableOptionCharsetWithConvertTo {
				return []Finding{{Code: CodeCharsetChange, Severity: SeverityWarning, Message: fmt.Sprintf(
					"CONVERT TO CHARACTER SET %s rewrites every string column: characters the new set lacks are lost, and values that become equal under the new collation collide in unique keys (gh-ost runs with PanicOnWarnings: a collision fails the run cleanly, the original table intact)", o.StrValue)}}
			}
		}
	}
	return nil
}

func renameColumnFinding(from, to string) Finding {
	return Finding{Code: CodeRenameColumn, Severity: SeverityError, Override: FlagAllowIncompatible,
		Message: fmt.Sprintf("renaming column %s to %s breaks every query that uses the old name; deploy readers of both names first", from, to)}
}

func uniqueFinding(u uniqueAdd, f facts) Finding {
	what := "UNIQUE KEY " + u.name
	if u.primary {
		what = "PRIMARY KEY"
	}
	n, counted := f.duplicates[u.name]
	switch {
	case counted && n > 0:
		return Finding{Code: CodeUniqueDuplicates, Severity: SeverityError, Override: FlagAllowDataLoss, Message: fmt.Sprintf(
			"adding %s over (%s): %d existing row(s) duplicate another, so the change cannot succeed: a native ALTER fails, and gh-ost (run with PanicOnWarnings) fails its copy on the first duplicate with the original table intact; remove the duplicates first", what, strings.Join(u.cols, ", "), n)}
	case counted:
		return Finding{Code: CodeUniqueChecked, Severity: SeverityInfo, Message: fmt.Sprintf(
			"adding %s: no duplicates in the existing rows; a duplicate written during the migration fails it cleanly (the server refuses it natively; gh-ost runs with PanicOnWarnings), the original table intact", what)}
	}
	why := "not checked offline"
	if f.connected {
		why = "could not be counted (new column or expression key part)"
	}
	return Finding{Code: CodeUniqueUnchecked, Severity: SeverityWarning, Message: fmt.Sprintf(
		"adding %s: duplicates %s; a duplicate fails the run cleanly with the original table intact (gh-ost runs with PanicOnWarnings, so its INSERT IGNORE cannot drop a row silently)", what, why)}
}

func changeFindings(c columnChange, f facts) []Finding {
	var out []Finding
	if n, ok := narrows(c); ok {
		out = append(out, narrowingFinding(c, n, f))
	} else if c.before.nullable && !c.after.nullable {
		out = append(out, notNullFinding(c, f))
	} else if typeClassChange(c) {
		out = append(out, Finding{Code: CodeTypeChange, Severity: SeverityWarning, Message: fmt.Sprintf(
			"%s changes type family (%s -> %s): values are converted, check that every one converts", c.before.name, c.before.typeName(), c.after.typeName())})
	}
	if cs := charsetChange(c); cs != "" {
		out = append(out, Finding{Code: CodeCharsetChange, Severity: SeverityWarning, Message: cs +
			": characters the new set lacks are lost, and values that become equal collide in unique keys (gh-ost runs with PanicOnWarnings: a collision fails the run cleanly, the original table intact)"})
	}
	return out
}

func narrowingFinding(c columnChange, n narrowing, f facts) Finding {
	if bad, ok := f.misfits[c.before.name]; ok {
		if bad > 0 {
			return Finding{Code: CodeNarrowingDataLoss, Severity: SeverityError, Override: FlagAllowDataLoss, Message: fmt.Sprintf(
				"narrowing %s: %d existing row(s) do not fit (or are NULL for a NOT NULL column), so the change cannot succeed: gh-ost (PanicOnWarnings) fails on the first truncation with the original table intact", n.desc, bad)}
		}
		return Finding{Code: CodeNarrowing, Severity: SeverityWarning, Message: fmt.Sprintf(
			"narrowing %s: every existing row fits; a row written during the migration that does not fit fails the run cleanly (gh-ost runs with PanicOnWarnings), the original table intact", n.desc)}
	}
	why := "existing data not checked offline"
	if f.connected {
		why = "existing data cannot be checked for this type"
	}
	return Finding{Code: CodeNarrowing, Severity: SeverityWarning, Message: fmt.Sprintf(
		"narrowing %s: %s; a value that does not fit fails the run cleanly with the original table intact (gh-ost runs with PanicOnWarnings, so nothing is truncated silently)", n.desc, why)}
}

func notNullFinding(c columnChange, f facts) Finding {
	if bad, ok := f.misfits[c.before.name]; ok && bad > 0 {
		return Finding{Code: CodeNarrowingDataLoss, Severity: SeverityError, Override: FlagAllowDataLoss, Message: fmt.Sprintf(
			"%s becomes NOT NULL but %d row(s) hold NULL: the native ALTER fails, gh-ost would store the type's zero value", c.before.name, bad)}
	}
	return Finding{Code: CodeNotNull, Severity: SeverityInfo, Message: fmt.Sprintf(
		"%s becomes NOT NULL (needs strict sql_mode to stay online; existing NULLs checked only when connected)", c.before.name)}
}

// ghostFindings are gh-ost's prerequisites and risks, checked for ghost plans only.
func ghostFindings(srv Server, old, nw *table, f facts, perf *bool) []Finding {
	var out []Finding
	if _, err := sharedKey(old, nw); err != nil {
		out = append(out, Finding{Code: CodeNoSharedKey, Severity: SeverityError, Message: err.Error()})
	}
	out = append(out, performanceSchemaFinding(srv, perf)...)
	fks := slices.Clone(f.fks)
	for _, fk := range nw.fks {
		if !slices.ContainsFunc(old.fks, func(o foreignKey) bool { return strings.EqualFold(o.name, fk.name) }) {
			fks = append(fks, fk) // added by this ALTER
		}
	}
	if len(fks) > 0 {
		var names []string
		for _, fk := range fks {
			names = append(names, fmt.Sprintf("%s (%s -> %s)", fk.name, qualified(fk.schema, fk.table), qualified(fk.refSchema, fk.refTable)))
		}
		out = append(out, Finding{Code: CodeForeignKeys, Severity: SeverityError, Message: "gh-ost does not support foreign keys (in either direction): " + strings.Join(names, ", ")})
	}
	if len(f.triggers) > 0 {
		out = append(out, triggerFinding(f.triggers, f.schemaTriggers))
	}
	return out
}

// TriggerSuffix is the suffix the gh-ost engine gives the triggers it re-creates on the new table
// (runner/ghost.DefaultTriggerSuffix; a test there keeps the two equal). A trigger that already
// ends in it loses it instead, so names alternate between migrations of a table.
const TriggerSuffix = "_ggt"

// triggerFinding says how gh-ost v1.1.10 carries the table's triggers over (re-created on the new
// table inside the cut-over lock, under a new name) and refuses what it cannot do: a new name that
// is taken in the schema or longer than 64 characters, each trigger named.
func triggerFinding(triggers, inSchema []string) Finding {
	taken := map[string]bool{}
	for _, n := range inSchema {
		taken[strings.ToLower(n)] = true
	}
	var renames, problems []string
	for _, n := range triggers {
		next := strings.TrimSuffix(n, TriggerSuffix)
		if next == n {
			next = n + TriggerSuffix
		}
		switch {
		case len(next) > 64:
			problems = append(problems, fmt.Sprintf("%s would become %s, longer than 64 characters", n, next))
		case taken[strings.ToLower(next)]:
			problems = append(problems, fmt.Sprintf("%s would become %s, which another trigger of the schema already has", n, next))
		}
		renames = append(renames, n+" → "+next)
	}
	if len(problems) > 0 {
		return Finding{Code: CodeTriggers, Severity: SeverityError,
			Message: "gh-ost re-creates the table's triggers on the new table under new names, and cannot here: " + strings.Join(problems, "; ") + "; rename the trigger first"}
	}
	return Finding{Code: CodeTriggers, Severity: SeverityInfo,
		Message: "gh-ost re-creates the table's triggers on the new table inside the cut-over lock, renamed: " + strings.Join(renames, ", ") +
			"; until then its own writes to the ghost table fire no trigger"}
}

// sizeFinding states the size and the estimate.
func sizeFinding(s *Size, secs float64, strategy Strategy, alg Algorithm, measured *CopyRate) Finding {
	return Finding{Code: CodeTableSize, Severity: SeverityInfo, Message: fmt.Sprintf(
		"%d rows (estimate), %s data, %s indexes; estimated %s for %s at %s",
		s.Rows, humanBytes(s.DataBytes), humanBytes(s.IndexBytes), humanSeconds(secs), strategy, rateText(strategy, alg, measured))}
}

// Assumed rates, measured on the development machine (ARCHITECTURE.md's anchors: a native table
// copy of 4M rows took 8.0 s, gh-ost 1.1.6 with default settings 3.06x as long). An in-place index
// build only reads and sorts one index, so it is taken as twice the copy rate. INSTANT changes
// only metadata and are counted as 0.1 s. Real rates depend on row width, load and throttling.
const (
	rateRebuildRowsPerSec = 500_000
	rateNoCopyRowsPerSec  = 1_000_000
	rateGhostRowsPerSec   = 160_000
	instantSeconds        = 0.1
)

func rowsPerSec(strategy Strategy, alg Algorithm, measured *CopyRate) float64 {
	switch {
	case strategy == StrategyGhost && measured != nil && measured.RowsPerSecond > 0:
		return measured.RowsPerSecond
	case strategy == StrategyGhost:
		return rateGhostRowsPerSec
	case alg == AlgorithmNoCopy:
		return rateNoCopyRowsPerSec
	default:
		return rateRebuildRowsPerSec
	}
}

// estimate is the expected duration of the change on a table of s.
func estimate(s *Size, strategy Strategy, alg Algorithm, rebuild bool, measured *CopyRate) float64 {
	if strategy == StrategyInstant {
		return instantSeconds
	}
	if strategy == StrategyInplace && !rebuild && alg != AlgorithmNoCopy {
		alg = AlgorithmNoCopy // MySQL's INPLACE without rebuild
	}
	return instantSeconds + float64(s.Rows)/rowsPerSec(strategy, alg, measured)
}

func rateText(strategy Strategy, alg Algorithm, measured *CopyRate) string {
	switch {
	case strategy == StrategyInstant:
		return "metadata only"
	case strategy == StrategyGhost && measured != nil && measured.RowsPerSecond > 0:
		return fmt.Sprintf("%s rows/s, measured (%s)", humanRate(measured.RowsPerSecond), measured.Source)
	case strategy == StrategyGhost:
		return fmt.Sprintf("%.0fk rows/s (built-in rate: no gh-ost copy measured on this server yet)", rowsPerSec(strategy, alg, nil)/1000)
	}
	return fmt.Sprintf("%.0fk rows/s", rowsPerSec(strategy, alg, nil)/1000)
}

// humanRate is "12.3k" or "850".
func humanRate(r float64) string {
	if r >= 1000 {
		return fmt.Sprintf("%.1fk", r/1000)
	}
	return fmt.Sprintf("%.0f", r)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func humanSeconds(s float64) string {
	switch {
	case s < 1:
		return "under a second"
	case s < 120:
		return fmt.Sprintf("%.0f s", s)
	case s < 7200:
		return fmt.Sprintf("%.0f min", s/60)
	}
	return fmt.Sprintf("%.1f h", s/3600)
}
