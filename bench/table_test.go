package bench

import (
	"fmt"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/loadgen"
)

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// formatTable prints the outcomes side by side: wall time and rows/s with their ratio to the
// COPY ALTER, and the foreground workload's figures with its p99 as a ratio of the no-migration
// p99.
func formatTable(results []outcome) string {
	var copyWall, baseP99 time.Duration
	for _, o := range results {
		switch {
		case o.baseline:
			baseP99 = o.fg.All.P99
		case o.name == "ALGORITHM=COPY" && o.err == nil:
			copyWall = o.wall
		}
	}
	width := len("strategy")
	for _, o := range results {
		width = max(width, len(o.name))
	}
	// tabwriter aligns every column right; names padded to one width read left-aligned.
	name := func(s string) string { return fmt.Sprintf("%-*s", width, s) }
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, name("strategy")+"\twall\t× COPY\trows/s\tfg ops\terrors\tp50\tp99\t× base p99\tmax\tmax stall\t")
	for _, o := range results {
		if o.err != nil {
			fmt.Fprintf(tw, "%s\tFAILED: %s\t\t\t\t\t\t\t\t\t\t\n", name(o.name), firstLine(o.err.Error()))
			continue
		}
		wall, ratio, rate := "-", "-", "-"
		if !o.baseline {
			wall = o.wall.Round(10 * time.Millisecond).String()
			rate = fmt.Sprintf("%.0f", float64(o.rows)/o.wall.Seconds())
			if copyWall > 0 {
				ratio = fmt.Sprintf("%.2f×", o.wall.Seconds()/copyWall.Seconds())
			}
		}
		p99ratio := "-"
		if baseP99 > 0 {
			p99ratio = fmt.Sprintf("%.2f×", float64(o.fg.All.P99)/float64(baseP99))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", name(o.name), wall, ratio, rate,
			o.fg.All.Count, o.fg.All.Errors, msString(o.fg.All.P50), msString(o.fg.All.P99), p99ratio,
			msString(o.fg.All.Max), msString(o.fg.MaxStall))
	}
	_ = tw.Flush()
	return b.String()
}

func msString(d time.Duration) string { return fmt.Sprintf("%.2f ms", ms(d)) }

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func TestFormatTable(t *testing.T) {
	stats := func(p99, stall time.Duration, errs int) loadgen.Stats {
		return loadgen.Stats{All: loadgen.Latency{Count: 4000, Errors: errs, P50: time.Millisecond, P99: p99, Max: stall}, MaxStall: stall}
	}
	got := formatTable([]outcome{
		{name: "no migration", baseline: true, rows: 1000, wall: 10 * time.Second, fg: stats(2*time.Millisecond, 20*time.Millisecond, 0)},
		{name: "ALGORITHM=COPY", rows: 1000, wall: 4 * time.Second, fg: stats(8*time.Millisecond, 3*time.Second, 0)},
		{name: "pt-online-schema-change", rows: 1000, wall: 8 * time.Second, fg: stats(5*time.Millisecond, 500*time.Millisecond, 3)},
		{name: "gh-ost (ghostgate)", err: fmt.Errorf("boom\ndetails")},
	})
	lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	require.Len(t, lines, 5, got)
	require.Regexp(t, `no migration\s+-\s+-\s+-\s+4000\s+0\s+1.00 ms\s+2.00 ms\s+1.00×`, lines[1])
	require.Regexp(t, `ALGORITHM=COPY\s+4s\s+1.00×\s+250\s+4000\s+0\s+1.00 ms\s+8.00 ms\s+4.00×\s+3000.00 ms\s+3000.00 ms`, lines[2])
	require.Regexp(t, `pt-online-schema-change\s+8s\s+2.00×\s+125\s+4000\s+3\s+.*2.50×`, lines[3])
	require.Contains(t, lines[4], "FAILED: boom")
	require.NotContains(t, got, "details")
}
