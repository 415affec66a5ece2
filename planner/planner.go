// Package planner turns DDL text into Plans: for each table, how the change will run (instant,
// in place with LOCK=NONE, or gh-ost; never a blocking copy), the exact statement, and findings a
// DBA or CI must see first (destructive or incompatible changes, silent row loss under gh-ost,
// gh-ost prerequisites, size and duration).
//
// The strategy comes from rules per flavor and version (see rules.go for the docs they follow) and,
// when connected, from a probe: the ALTER is run on an empty clone of the table (CREATE TABLE …
// LIKE) with ALGORITHM=INSTANT, NOCOPY (MariaDB) and INPLACE, LOCK=NONE, and the server's answer
// wins. The clone is always dropped. Offline, table definitions come from CREATE TABLE text (a
// schema dump as is, see schema.go) and only the rules decide, for CI without a database.
//
// What runs is the user's own text (issue 11): a MariaDB-aware lexer (lex.go) finds statements,
// clauses and the target table and resolves executable comments for the target server; the
// executed statement is the user's clauses plus ghostgate's ALGORITHM/LOCK. The TiDB parser only
// helps understand each clause (mariadb.go covers what it lacks); a clause it cannot read is still
// planned, the probe decides, and the plan says it was not analysed.
package planner

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// Planner plans DDL for one server (connected) or one set of table definitions (offline).
type Planner struct {
	db         *sql.DB // nil offline
	opts       Options
	srv        Server
	defs       schemaDefs // offline definitions
	capability Capability // nil: rules only
	// perfSchema is the server's performance_schema setting (nil: unknown). gh-ost v1.1.10's
	// race-free atomic cut-over on MariaDB needs it (see ghostFindings).
	perfSchema *bool
	prober     *serverProbe // the real probe when it is the capability (tests reach its hook)
}

// New returns a connected Planner. It reads the flavor and version from the server; opts.Schema is
// the default database (the connection's current database when empty).
func New(db *sql.DB, opts Options) (*Planner, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var version string
	var current sql.NullString
	var perf bool
	if err := db.QueryRowContext(ctx, "SELECT VERSION(), DATABASE(), @@GLOBAL.performance_schema").Scan(&version, &current, &perf); err != nil {
		return nil, fmt.Errorf("planner: read server version: %w", err)
	}
	srv, err := serverFromVersion(version)
	if err != nil {
		return nil, err
	}
	if opts.Schema == "" {
		opts.Schema = current.String
	}
	p := &Planner{db: db, opts: opts, srv: srv, capability: opts.Capability, perfSchema: &perf}
	if p.capability == nil && !opts.NoProbe {
		p.prober = &serverProbe{db: db, srv: srv}
		p.capability = p.prober.probe
	}
	return p, nil
}

// NewOffline returns a Planner that reads table definitions from createTables (CREATE TABLE
// statements, or a mysqldump / mariadb-dump --no-data file as is, see readSchema) and plans by
// rules only (or by opts.Capability when set). opts.Server names the flavor and version, e.g.
// "mariadb-10.11".
func NewOffline(createTables string, opts Options) (_ *Planner, err error) {
	defer recoverInternal(&err, "the table definitions")
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Server == "" {
		return nil, fmt.Errorf("%w: offline planning needs Server (e.g. \"mariadb-10.11\")", ErrInvalidOptions)
	}
	srv, err := ParseServer(opts.Server)
	if err != nil {
		return nil, err
	}
	defs, err := readSchema(createTables, srv, opts.Schema)
	if err != nil {
		return nil, err
	}
	return &Planner{opts: opts, srv: srv, defs: defs, capability: opts.Capability, perfSchema: opts.PerformanceSchema}, nil
}

// recoverInternal turns a panic into an *InternalError naming where it happened (issue 11: a
// panic must never crash plan, run or serve).
func recoverInternal(err *error, where string) {
	if r := recover(); r != nil {
		*err = &InternalError{Where: where, Value: r}
	}
}

// Server is the flavor and version the planner plans for.
func (p *Planner) Server() Server { return p.srv }

// Connected reports whether the planner talks to a server.
func (p *Planner) Connected() bool { return p.db != nil }

func tableKey(schema, name string) string {
	return strings.ToLower(schema) + "\x00" + strings.ToLower(name)
}

// Plan parses ddl and returns one Plan per table, in the order the tables first appear. Statements on
// the same table are merged into one ALTER. It returns an error (see the sentinels in errors.go)
// when the text cannot be planned at all; findings never make it fail.
func (p *Planner) Plan(ctx context.Context, ddl string) (_ []*Plan, err error) {
	defer recoverInternal(&err, "the DDL")
	in, err := parseDDL(ddl, p.opts, p.srv)
	if err != nil {
		return nil, err
	}
	for _, c := range in.changes {
		if c.schema == "" && p.db != nil {
			// Said before the server's "Error 1046: No database selected" would (issue 13).
			return nil, &NoDatabaseError{Table: c.table}
		}
	}
	plans := make([]*Plan, 0, len(in.changes))
	for _, c := range in.changes {
		plan, err := p.planOne(ctx, ddl, c)
		if err != nil {
			return nil, err
		}
		plan.Findings = append(execFindings(ddl, in.execs, p.srv, c), plan.Findings...)
		plans = append(plans, plan)
	}
	return plans, nil
}

// planOne plans one change, turning a panic into an error that names the statement.
func (p *Planner) planOne(ctx context.Context, ddl string, c *change) (_ *Plan, err error) {
	line, col := lineCol(ddl, c.pos())
	defer recoverInternal(&err, fmt.Sprintf("the change of %s (statement at line %d column %d)", qualified(c.schema, c.table), line, col))
	return p.planChange(ctx, c)
}

func (p *Planner) table(ctx context.Context, schema, name string) (*table, error) {
	if p.db != nil {
		return loadTable(ctx, p.db, p.srv, schema, name)
	}
	key := tableKey(schema, name)
	if p.defs.views[key] {
		return nil, fmt.Errorf("planner: %s is a view, not a table: %w", qualified(schema, name), ErrNotSchemaChange)
	}
	t, ok := p.defs.tables[key]
	if !ok {
		return nil, &UnknownTableError{Schema: schema, Table: name}
	}
	return t, nil
}

// planChange plans one table: steps 1-6.
func (p *Planner) planChange(ctx context.Context, c *change) (*Plan, error) {
	// 1. the current shape.
	old, err := p.table(ctx, c.schema, c.table)
	if err != nil {
		return nil, err
	}
	plan := &Plan{Schema: old.schema, Table: old.name, Statements: c.statements, Findings: []Finding{}}
	if c.special() {
		return p.planTableStatement(ctx, plan, old, c)
	}
	if c.algorithm != "" && !slices.Contains(algorithmsFor(p.srv), c.algorithm) {
		return nil, fmt.Errorf("planner: the change of %s asks for %s, which %s does not have: %w", qualified(old.schema, old.name), algName(c.algorithm), p.srv, ErrUnsupported)
	}
	specs := c.specs()
	// 2. the new shape (also checks that named columns and indexes exist).
	nw := old.clone()
	for _, sp := range specs {
		if err := nw.apply(sp); err != nil {
			return nil, err
		}
	}
	// 3. facts: size, triggers, foreign keys, data checks.
	an := analyze(old, specs)
	f, err := p.facts(ctx, old, an)
	if err != nil {
		return nil, err
	}
	// 4. rules, then the probe.
	rules := rulesVerdict(p.srv, old, c)
	plan.RulesAlgorithm = rules.alg
	plan.RulesStrategy, _, _ = decide(rules.alg, rules.rebuild, f.size, p.opts)
	alg, rebuild := rules.alg, rules.rebuild
	if err := p.probe(ctx, plan, c, rules, &alg, &rebuild); err != nil {
		return nil, err
	}
	// 5. strategy and statement: the user's clauses as written, with ghostgate's ALGORITHM/LOCK.
	strategy, reason, warn := decide(alg, rebuild, f.size, p.opts)
	if c.algorithm != "" {
		strategy, reason, warn = explicit(c, alg, rebuild, rules, plan.Probe != nil)
	}
	plan.Strategy, plan.Algorithm, plan.Rebuild = strategy, alg, rebuild
	plan.Reason = reason + "; " + decidedBy(plan.Probe, rules)
	if strategy == StrategyGhost {
		plan.GhostAlter = c.body()
	} else {
		plan.SQL = "ALTER TABLE " + quoteTable(old.schema, old.name) + " " + c.waitPrefix() + c.body() + ", " + algorithmClause(p.srv, alg)
	}
	// 6. findings.
	if warn != nil {
		plan.Findings = append(plan.Findings, *warn)
	}
	plan.Findings = append(plan.Findings, notAnalysed(old, c)...)
	plan.Findings = append(plan.Findings, clauseFindings(old, specs, an, f)...)
	if strategy == StrategyGhost {
		plan.Findings = append(plan.Findings, ghostFindings(p.srv, old, nw, f, p.perfSchema)...)
	}
	p.finish(ctx, plan, f)
	return plan, nil
}

// explicit is the strategy for a user's own ALGORITHM: it is honoured as given (never replaced by
// a cheaper one or by gh-ost); the probe has already refused it when the server cannot do it.
func explicit(c *change, alg Algorithm, rebuild bool, rules verdict, probed bool) (Strategy, string, *Finding) {
	reason := "the statement asks for " + algName(c.algorithm) + " and runs natively as written"
	var warn *Finding
	if !probed && rules.alg.rank() > c.algorithm.rank() {
		warn = &Finding{Code: CodeExplicitAlgorithm, Severity: SeverityWarning, Message: fmt.Sprintf(
			"the rules expect the server to refuse %s (%s); not probed, so the server decides when it runs", algName(c.algorithm), rules.why)}
	}
	if alg == AlgorithmInstant {
		return StrategyInstant, reason, warn
	}
	if rebuild && alg == AlgorithmInplace && warn == nil {
		warn = &Finding{Code: CodeRebuildLag, Severity: SeverityWarning,
			Message: "INPLACE rebuilds the table: replicas replay it as one statement after the primary finished and lag for as long as the rebuild takes"}
	}
	return StrategyInplace, reason, warn
}

// probe asks the server (or the injected capability) and lets its answer overrule the rules. A
// user's explicit ALGORITHM is the only one tried, and its refusal is the plan's error.
func (p *Planner) probe(ctx context.Context, plan *Plan, c *change, rules verdict, alg *Algorithm, rebuild *bool) error {
	if c.algorithm != "" {
		*alg, *rebuild = c.algorithm, c.algorithm == AlgorithmInplace && (p.srv.Flavor == MariaDB || rules.rebuild)
	}
	if p.capability == nil {
		return nil
	}
	if fk := touchesForeignKeys(c.specs()); fk {
		plan.Findings = append(plan.Findings, Finding{Code: CodeProbeSkipped, Severity: SeverityInfo,
			Message: "probe skipped: CREATE TABLE … LIKE does not copy foreign keys, so the clone cannot answer for FOREIGN KEY clauses; the rules decide"})
		return nil
	}
	algs := algorithmsFor(p.srv)
	if c.algorithm != "" {
		algs = []Algorithm{c.algorithm}
	}
	answers, err := p.capability(ctx, plan.Schema, plan.Table, c.body(), algs)
	if err != nil {
		return err
	}
	plan.Probe = answers
	if c.algorithm != "" {
		if len(answers) == 0 || !answers[len(answers)-1].Accepted {
			reason := "no answer"
			if len(answers) > 0 {
				reason = answers[len(answers)-1].Reason
			}
			return &NotOnlineError{Schema: plan.Schema, Table: plan.Table, Algorithm: c.algorithm, Reason: reason}
		}
		return nil
	}
	*alg = probeAlgorithm(answers)
	switch {
	case *alg != AlgorithmInplace:
		*rebuild = false
	case p.srv.Flavor == MariaDB:
		*rebuild = true // NOCOPY was refused, so INPLACE rebuilds
	default:
		// MySQL has no NOCOPY to tell: trust the rules only when they also said "in place, no rebuild".
		*rebuild = !(rules.alg == AlgorithmInplace && !rules.rebuild)
	}
	if *alg != rules.alg {
		plan.Disagreement = fmt.Sprintf("the rules for %s expected %s, the server accepted %s", p.srv, algName(rules.alg), algName(*alg))
		plan.Findings = append(plan.Findings, Finding{Code: CodeDisagreement, Severity: SeverityInfo, Message: plan.Disagreement + "; the server's answer is used"})
	}
	return nil
}

// decidedBy names what decided: the server's last refusal when probed, else the rules' clause.
func decidedBy(answers []ProbeAnswer, rules verdict) string {
	if len(answers) == 0 {
		return "rules: " + rules.why
	}
	last := answers[len(answers)-1]
	if len(answers) == 1 && last.Accepted {
		return "the server accepted " + algName(last.Algorithm)
	}
	for i := len(answers) - 1; i >= 0; i-- {
		if !answers[i].Accepted {
			return "server: " + answers[i].Reason
		}
	}
	return "rules: " + rules.why
}

func algName(a Algorithm) string {
	if a == AlgorithmCopy {
		return "no online algorithm (COPY)"
	}
	return "ALGORITHM=" + strings.ToUpper(string(a))
}

func touchesForeignKeys(specs []spec) bool {
	for _, sp := range specs {
		if sp.Tp == ast.AlterTableDropForeignKey || (sp.Tp == ast.AlterTableAddConstraint && sp.Constraint.Tp == ast.ConstraintForeignKey) {
			return true
		}
	}
	return false
}

func (p *Planner) facts(ctx context.Context, t *table, an analysis) (facts, error) {
	if p.db != nil {
		return gatherFacts(ctx, p.db, t, an)
	}
	// A schema dump declares triggers too: the table's, and the schema's (trigger names are per
	// schema, see triggerFinding).
	f := facts{fks: t.fks, triggers: t.triggers}
	for _, other := range p.defs.tables {
		if strings.EqualFold(other.schema, t.schema) {
			f.schemaTriggers = append(f.schemaTriggers, other.triggers...)
		}
		for _, fk := range other.fks {
			if other != t && strings.EqualFold(fk.refSchema, t.schema) && strings.EqualFold(fk.refTable, t.name) {
				f.fks = append(f.fks, fk)
			}
		}
	}
	return f, nil
}

// decide maps the cheapest online algorithm to a strategy. A rebuilding INPLACE is online on the
// primary, but a replica applies it as one statement after it committed there, lagging for the
// whole rebuild: above the size threshold gh-ost (which copies in small, throttled chunks) is used.
func decide(alg Algorithm, rebuild bool, size *Size, opts Options) (Strategy, string, *Finding) {
	switch {
	case alg == AlgorithmInstant:
		return StrategyInstant, "the server changes only metadata (ALGORITHM=INSTANT)", nil
	case alg == AlgorithmNoCopy || (alg == AlgorithmInplace && !rebuild):
		return StrategyInplace, "the server alters in place without rebuilding the table, writes continue (LOCK=NONE)", nil
	case alg == AlgorithmInplace && size != nil && (size.Rows > opts.rebuildMaxRows() || size.DataBytes+size.IndexBytes > opts.rebuildMaxBytes()):
		return StrategyGhost, fmt.Sprintf("an INPLACE rebuild is online on the primary, but every replica replays it as one statement and lags for the whole rebuild; the table (%d rows, %s) is above the threshold (%d rows or %s), so gh-ost copies it in throttled chunks",
			size.Rows, humanBytes(size.DataBytes+size.IndexBytes), opts.rebuildMaxRows(), humanBytes(opts.rebuildMaxBytes())), nil
	case alg == AlgorithmInplace:
		sizeText := "size unknown offline"
		if size != nil {
			sizeText = fmt.Sprintf("%d rows, %s, below the gh-ost threshold", size.Rows, humanBytes(size.DataBytes+size.IndexBytes))
		}
		return StrategyInplace, "the server rebuilds the table in place with LOCK=NONE, writes continue", &Finding{
			Code: CodeRebuildLag, Severity: SeverityWarning,
			Message: "INPLACE rebuilds the table: replicas replay it as one statement after the primary finished and lag for as long as the rebuild takes (" + sizeText + ")"}
	}
	return StrategyGhost, "the server has no online (LOCK=NONE) algorithm for this change, so gh-ost copies the table without blocking writes", nil
}

// finish adds the size/offline notes, marks overridden findings and sets Blocked.
func (p *Planner) finish(ctx context.Context, plan *Plan, f facts) {
	fc, fcFinding := p.forecast(ctx, plan)
	plan.Forecast = fc
	if f.size != nil {
		plan.Size = f.size
		secs := estimate(f.size, plan.Strategy, plan.Algorithm, plan.Rebuild, p.opts.GhostCopyRate)
		size := sizeFinding(f.size, secs, plan.Strategy, plan.Algorithm, p.opts.GhostCopyRate)
		switch k := fc.slowdown(); {
		case fc != nil && fc.Starves:
			size.Message += "; with the table's current writes it would not finish (" + CodeWriteRate + ")"
		case k > 1:
			// The copy gets the apply loop's time the table's writes leave it.
			secs *= k
			size.Message += fmt.Sprintf("; %s with the table's current writes (×%.2f)", humanSeconds(secs), k)
		}
		plan.EstimatedSeconds = &secs
		plan.Findings = append(plan.Findings, size)
	} else if !f.connected {
		plan.Findings = append(plan.Findings, Finding{Code: CodeOffline, Severity: SeverityInfo,
			Message: "offline: planned by rules for " + p.srv.String() + "; size, triggers and existing data not checked"})
	}
	if fcFinding != nil {
		plan.Findings = append(plan.Findings, *fcFinding)
	}
	for i := range plan.Findings {
		fd := &plan.Findings[i]
		fd.Overridden = fd.Severity == SeverityError && fd.Override != "" && p.opts.allowed(fd.Override)
		if fd.Blocks() {
			plan.Blocked = true
		}
	}
}

// planTableStatement plans DROP TABLE, TRUNCATE TABLE and RENAME TABLE: native statements gh-ost
// has no part in (it refuses renames and never drops tables).
func (p *Planner) planTableStatement(ctx context.Context, plan *Plan, old *table, c *change) (*Plan, error) {
	f := facts{}
	if p.db != nil {
		var err error
		if f, err = gatherFacts(ctx, p.db, old, analysis{}); err != nil {
			return nil, err
		}
	}
	plan.Strategy, plan.Algorithm, plan.RulesStrategy, plan.RulesAlgorithm = StrategyInstant, AlgorithmInstant, StrategyInstant, AlgorithmInstant
	target := quoteTable(old.schema, old.name)
	switch {
	case c.dropTable:
		plan.SQL, plan.Reason = "DROP TABLE "+target, "DROP TABLE runs natively; gh-ost never drops tables"
		plan.Findings = append(plan.Findings, Finding{Code: CodeDropTable, Severity: SeverityError, Override: FlagAllowDestructive,
			Message: "DROP TABLE destroys " + qualified(old.schema, old.name) + " and all its rows"})
	case c.truncate:
		plan.SQL, plan.Reason = "TRUNCATE TABLE "+target, "TRUNCATE TABLE runs natively (it recreates the table)"
		plan.Findings = append(plan.Findings, Finding{Code: CodeTruncateTable, Severity: SeverityError, Override: FlagAllowDestructive,
			Message: "TRUNCATE TABLE deletes every row of " + qualified(old.schema, old.name)})
	default:
		toSchema := cmpOr(c.renameSchema, old.schema)
		plan.SQL = "RENAME TABLE " + target + " TO " + quoteTable(toSchema, c.renameTable)
		plan.Reason = "RENAME TABLE is a metadata change the server does atomically; gh-ost refuses renames"
		plan.Findings = append(plan.Findings, Finding{Code: CodeRenameTable, Severity: SeverityError, Override: FlagAllowIncompatible,
			Message: fmt.Sprintf("renaming %s to %s breaks every query that uses the old name", qualified(old.schema, old.name), qualified(toSchema, c.renameTable))})
	}
	p.finish(ctx, plan, f)
	return plan, nil
}
