package planner

// Strategy is how a change will run.
type Strategy string

// Strategies. There is no blocking COPY: what the server cannot do online goes to gh-ost.
const (
	StrategyInstant Strategy = "instant" // metadata only (ALGORITHM=INSTANT)
	StrategyInplace Strategy = "inplace" // ALGORITHM=NOCOPY or INPLACE with LOCK=NONE
	StrategyGhost   Strategy = "ghost"   // gh-ost copies into a ghost table and cuts over
)

// Severity of a finding. Errors block the plan unless overridden.
type Severity string

// Severities.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// Finding is one lint result: what a DBA or CI must know before the change runs.
type Finding struct {
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	// Override is the CLI flag that overrides this error finding, "" when it cannot be overridden.
	Override string `json:"override,omitempty"`
	// Overridden: an error finding whose Override was given; it no longer blocks.
	Overridden bool `json:"overridden,omitempty"`
}

// Blocks reports whether the finding stops the plan from running.
func (f Finding) Blocks() bool { return f.Severity == SeverityError && !f.Overridden }

// ProbeAnswer is the server's answer to the ALTER on the probe clone with one algorithm.
type ProbeAnswer struct {
	Algorithm Algorithm `json:"algorithm"`
	Accepted  bool      `json:"accepted"`
	// ErrorCode is 1845 (ER_ALTER_OPERATION_NOT_SUPPORTED) or 1846 (..._REASON) when refused.
	ErrorCode uint16 `json:"error_code,omitempty"`
	// Reason is the server's text when refused, e.g. "ALGORITHM=INSTANT is not supported. Reason:
	// ADD INDEX. Try ALGORITHM=NOCOPY".
	Reason string `json:"reason,omitempty"`
}

// Size is the table's size from information_schema.TABLES (TABLE_ROWS is InnoDB's estimate).
type Size struct {
	Rows       int64 `json:"rows"`
	DataBytes  int64 `json:"data_bytes"`
	IndexBytes int64 `json:"index_bytes"`
}

// Plan is the planner's answer for one table. It serializes to JSON with stable field names:
//
//	{
//	  "schema": "shop",                      // database
//	  "table": "orders",
//	  "statements": ["ALTER TABLE orders ADD COLUMN note TEXT"], // the input statements merged here
//	  "strategy": "instant",                 // "instant" | "inplace" | "ghost"
//	  "algorithm": "instant",                // "instant" | "nocopy" | "inplace" | "copy" (copy => ghost)
//	  "rebuild": false,                      // an INPLACE change that rebuilds the table
//	  "reason": "…",                         // why this strategy, in words
//	  "sql": "ALTER TABLE `shop`.`orders` ADD COLUMN note TEXT, ALGORITHM=INSTANT, LOCK=NONE",
//	                                         // the exact native statement (instant/inplace; DROP/RENAME TABLE):
//	                                         // the user's clauses as written plus ghostgate's ALGORITHM/LOCK
//	  "ghost_alter": "",                     // the clauses for gh-ost --alter as written (ghost only)
//	  "rules_strategy": "instant",           // what the flavor/version rules alone would choose
//	  "rules_algorithm": "instant",
//	  "probe": [{"algorithm": "instant", "accepted": true}],
//	                                         // the server's answer per algorithm tried, null when not probed;
//	                                         // a refusal has "error_code" (1845/1846) and "reason"
//	  "disagreement": "",                    // set when the probe overruled the rules
//	  "findings": [{"code": "…", "severity": "error|warning|info", "message": "…",
//	                "override": "--allow-…", "overridden": false}],
//	  "size": {"rows": 1000000, "data_bytes": 50855936, "index_bytes": 0}, // null offline
//	  "estimated_seconds": 0.1,              // null offline (rates: see lint.go)
//	  "blocked": false                       // an error finding without its override given
//	}
type Plan struct {
	Schema           string        `json:"schema"`
	Table            string        `json:"table"`
	Statements       []string      `json:"statements"`
	Strategy         Strategy      `json:"strategy"`
	Algorithm        Algorithm     `json:"algorithm"`
	Rebuild          bool          `json:"rebuild"`
	Reason           string        `json:"reason"`
	SQL              string        `json:"sql,omitempty"`
	GhostAlter       string        `json:"ghost_alter,omitempty"`
	RulesStrategy    Strategy      `json:"rules_strategy"`
	RulesAlgorithm   Algorithm     `json:"rules_algorithm"`
	Probe            []ProbeAnswer `json:"probe"`
	Disagreement     string        `json:"disagreement,omitempty"`
	Findings         []Finding     `json:"findings"`
	Size             *Size         `json:"size"`
	EstimatedSeconds *float64      `json:"estimated_seconds"`
	// Forecast compares the table's write rate with gh-ost's apply capacity (gh-ost plans of a
	// connected planner with Options.WriteRates; nil otherwise).
	Forecast *Forecast `json:"forecast,omitempty"`
	Blocked  bool      `json:"blocked"`
}

// Blocking returns the error findings that still block the plan (no override given).
func (p *Plan) Blocking() []Finding {
	var out []Finding
	for _, f := range p.Findings {
		if f.Blocks() {
			out = append(out, f)
		}
	}
	return out
}

// AnyBlocked reports whether any plan is blocked (the CLI's "findings block" exit code).
func AnyBlocked(plans []*Plan) bool {
	for _, p := range plans {
		if p.Blocked {
			return true
		}
	}
	return false
}
