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

// formatTable prints the outcomes side by side: wall time with its ratio to the COPY ALTER, the
// replica's catch-up after the tool returned, CPU-seconds per process with the total's ratio to
// COPY's, and (loaded) the foreground workload's figures with its p99 as a ratio of the
// no-migration p99 of the same run.
func formatTable(results []outcome, loaded bool) string {
	var copyWall, copyCPU, baseP99, baseRead, baseUpdate time.Duration
	for _, o := range results {
		switch {
		case o.baseline:
			baseP99, baseRead, baseUpdate = o.fg.All.P99, o.fg.ByOp[loadgen.OpRead].P99, o.fg.ByOp[loadgen.OpUpdate].P99
		case o.name == "ALGORITHM=COPY" && o.err == nil:
			copyWall, copyCPU = o.wall, o.cpu.total()
		}
	}
	width := len("strategy")
	for _, o := range results {
		width = max(width, len(o.name))
	}
	// tabwriter aligns every column right; names padded to one width read left-aligned.
	name := func(s string) string { return fmt.Sprintf("%-*s", width, s) }
	ratio := func(a, b time.Duration) string {
		if b <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f×", a.Seconds()/b.Seconds())
	}
	secs := func(d time.Duration) string { return fmt.Sprintf("%.1f", d.Seconds()) }
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := name("strategy") + "\twall\t× COPY\treplica catch-up\tCPU-s primary\treplica\ttool\tworker\ttotal\t× COPY CPU\t"
	if loaded {
		// reads take no row lock: their p99 is what the box's contention alone did; updates also
		// wait on the copy's locks (or the triggers' writes).
		head += "load CPU-s\tfg ops\terrors\tp50\tp99\tp99.9\t× base p99\treads\tupdates\tmax stall\t"
	}
	fmt.Fprintln(tw, head)
	for _, o := range results {
		if o.err != nil {
			fmt.Fprintf(tw, "%s\tFAILED: %s\t\n", name(o.name), firstLine(o.err.Error()))
			continue
		}
		line := name(o.name)
		if o.baseline {
			line += "\t-\t-\t-\t-\t-\t-\t-\t-\t-\t"
		} else {
			c := o.cpu
			line += fmt.Sprintf("\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t", o.wall.Round(10*time.Millisecond), ratio(o.wall, copyWall),
				o.catchUp.Round(10*time.Millisecond), secs(c.primary), secs(c.replica), secs(c.tool), secs(c.worker),
				secs(c.total()), ratio(c.total(), copyCPU))
		}
		if loaded {
			line += fmt.Sprintf("%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t", secs(o.cpu.load), o.fg.All.Count, o.fg.All.Errors,
				msString(o.fg.All.P50), msString(o.fg.All.P99), msString(o.fg.All.P999), ratio(o.fg.All.P99, baseP99),
				ratio(o.fg.ByOp[loadgen.OpRead].P99, baseRead), ratio(o.fg.ByOp[loadgen.OpUpdate].P99, baseUpdate),
				msString(o.fg.MaxStall))
		}
		fmt.Fprintln(tw, line)
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
		return loadgen.Stats{All: loadgen.Latency{Count: 4000, Errors: errs, P50: time.Millisecond, P99: p99, P999: 2 * p99, Max: stall}, MaxStall: stall,
			ByOp: map[loadgen.Op]loadgen.Latency{loadgen.OpRead: {Count: 2000, P99: p99 / 2}, loadgen.OpUpdate: {Count: 2000, P99: p99}}}
	}
	cpu := func(total time.Duration) cpuUse {
		return cpuUse{primary: total / 2, replica: total / 4, tool: total / 8, worker: total / 8, load: time.Second}
	}
	results := []outcome{
		{name: "no migration", baseline: true, rows: 1000, wall: 10 * time.Second, fg: stats(2*time.Millisecond, 20*time.Millisecond, 0)},
		{name: "ALGORITHM=COPY", rows: 1000, wall: 4 * time.Second, catchUp: 3 * time.Second, cpu: cpu(8 * time.Second), fg: stats(8*time.Millisecond, 3*time.Second, 0)},
		{name: "pt-online-schema-change", rows: 1000, wall: 8 * time.Second, cpu: cpu(16 * time.Second), fg: stats(5*time.Millisecond, 500*time.Millisecond, 3)},
		{name: "gh-ost (ghostgate)", err: fmt.Errorf("boom\ndetails")},
	}
	results[1].fg.ByOp[loadgen.OpRead] = loadgen.Latency{Count: 2000, P99: 2 * time.Millisecond} // reads 2× their base, updates 4×
	got := formatTable(results, true)
	lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	require.Len(t, lines, 5, got)
	require.Regexp(t, `no migration(\s+-){9}\s+0.0\s+4000\s+0\s+1.00 ms\s+2.00 ms\s+4.00 ms\s+1.00×\s+1.00×\s+1.00×\s+20.00 ms`, lines[1])
	require.Regexp(t, `ALGORITHM=COPY\s+4s\s+1.00×\s+3s\s+4.0\s+2.0\s+1.0\s+1.0\s+8.0\s+1.00×\s+1.0\s+4000\s+0\s+1.00 ms\s+8.00 ms\s+16.00 ms\s+4.00×\s+2.00×\s+4.00×\s+3000.00 ms`, lines[2])
	require.Regexp(t, `pt-online-schema-change\s+8s\s+2.00×\s+0s\s+8.0\s+4.0\s+2.0\s+2.0\s+16.0\s+2.00×\s+1.0\s+4000\s+3\s+.*2.50×`, lines[3])
	require.Contains(t, lines[4], "FAILED: boom")
	require.NotContains(t, got, "details")

	idle := formatTable(results[1:3], false)
	require.NotContains(t, idle, "p99", "no foreground columns when idle")
	require.Regexp(t, `pt-online-schema-change\s+8s\s+2.00×\s+0s\s+8.0\s+4.0\s+2.0\s+2.0\s+16.0\s+2.00×\s*$`, strings.Split(idle, "\n")[2])
}

func TestAttribute(t *testing.T) {
	d := cpuSample{primary: 4 * time.Second, replica: 3 * time.Second, bench: 2 * time.Second, children: time.Second}
	require.Equal(t, cpuUse{primary: 4 * time.Second, replica: 3 * time.Second, tool: time.Second}, attribute("pt-osc", d))
	require.Equal(t, cpuUse{primary: 4 * time.Second, replica: 3 * time.Second, tool: 2 * time.Second, worker: time.Second}, attribute("ghostgate", d))
	require.Equal(t, cpuUse{primary: 4 * time.Second, replica: 3 * time.Second}, attribute("copy", d))
	t.Setenv("GG_BENCH_TOOLS", "")
	for _, s := range strategies(nil) { // every ghostgate variant counts its controller and worker
		if strings.HasPrefix(s.key, "ghostgate") {
			require.Equal(t, time.Second, attribute(s.key, d).worker, s.key)
		}
	}
}

// Busy work shows as this process's CPU time (on a shared box it may take longer than the CPU time
// it adds up to, hence a loop until it does rather than a fixed spin).
func TestReadProcTimes(t *testing.T) {
	before, err := readProcTimes("self")
	require.NoError(t, err)
	deadline := time.Now().Add(20 * time.Second)
	x := 0
	for {
		for i := range 10_000_000 {
			x += i
		}
		after, err := readProcTimes("self")
		require.NoError(t, err)
		if after.self-before.self >= 100*time.Millisecond {
			break
		}
		require.True(t, time.Now().Before(deadline), "no CPU time seen after 20s of busy work (%d)", x)
	}
	_, err = readProcTimes("0")
	require.Error(t, err)
}
