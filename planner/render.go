package planner

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes plans as readable text: one block per table with the strategy and why, the
// statement, size and estimate, the probe's answers and a table of findings.
func WriteText(w io.Writer, plans []*Plan) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, p := range plans {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		writePlan(tw, p)
	}
	if len(plans) > 0 {
		fmt.Fprintf(tw, "\n%s\n", summary(plans))
	}
	return tw.Flush()
}

func writePlan(w io.Writer, p *Plan) {
	status := "ok"
	if p.Blocked {
		status = "BLOCKED"
	}
	fmt.Fprintf(w, "%s\t%s\t%s\n", qualified(p.Schema, p.Table), strings.ToUpper(string(p.Strategy)), status)
	fmt.Fprintf(w, "  why\t%s\n", p.Reason)
	if p.SQL != "" {
		fmt.Fprintf(w, "  sql\t%s\n", p.SQL)
	}
	if p.GhostAlter != "" {
		fmt.Fprintf(w, "  gh-ost --alter\t%q\n", p.GhostAlter)
	}
	if p.Size != nil {
		est := ""
		if p.EstimatedSeconds != nil {
			est = ", est. " + humanSeconds(*p.EstimatedSeconds)
		}
		fmt.Fprintf(w, "  size\t%d rows, %s data, %s indexes%s\n", p.Size.Rows, humanBytes(p.Size.DataBytes), humanBytes(p.Size.IndexBytes), est)
	}
	if f := p.Forecast; f != nil {
		fmt.Fprintf(w, "  writes\t%s rows/s now, %.0f%% of gh-ost's apply capacity (%s events/s)%s\n",
			humanRate(f.WriteRowsPerSecond), 100*f.Utilization, humanRate(f.ApplyCapacity), map[bool]string{true: ": the copy would starve"}[f.Starves])
	}
	if len(p.Probe) > 0 {
		fmt.Fprintf(w, "  probe\t%s\n", probeText(p.Probe))
	}
	rules := fmt.Sprintf("%s (%s)", p.RulesStrategy, p.RulesAlgorithm)
	if p.Disagreement != "" {
		rules += " — overruled: " + p.Disagreement
	}
	fmt.Fprintf(w, "  rules\t%s\n", rules)
	for _, f := range p.Findings {
		mark := string(f.Severity)
		if f.Overridden {
			mark += " (overridden)"
		}
		override := ""
		if f.Override != "" && f.Blocks() {
			override = "  [override: " + f.Override + "]"
		}
		fmt.Fprintf(w, "  %s\t%s: %s%s\n", mark, f.Code, f.Message, override)
	}
}

func probeText(answers []ProbeAnswer) string {
	parts := make([]string, len(answers))
	for i, a := range answers {
		if a.Accepted {
			parts[i] = strings.ToUpper(string(a.Algorithm)) + " accepted"
		} else {
			parts[i] = fmt.Sprintf("%s refused (%s)", strings.ToUpper(string(a.Algorithm)), a.Reason)
		}
	}
	return strings.Join(parts, "; ")
}

func summary(plans []*Plan) string {
	blocked := 0
	for _, p := range plans {
		if p.Blocked {
			blocked++
		}
	}
	if blocked == 0 {
		return fmt.Sprintf("%d plan(s), none blocked", len(plans))
	}
	return fmt.Sprintf("%d plan(s), %d blocked by error findings (give the override flag shown to proceed, where there is one)", len(plans), blocked)
}
