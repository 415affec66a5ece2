package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/internal/errtext"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/store"
)

func writeList(w io.Writer, format string, views []client.MigrationView) error {
	if format == "json" {
		if views == nil {
			views = []client.MigrationView{}
		}
		return json.NewEncoder(w).Encode(views)
	}
	if len(views) == 0 {
		_, err := fmt.Fprintln(w, "no migrations")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTABLE\tSTRATEGY\tSTATUS\tPROGRESS\tNOTE")
	for _, v := range views {
		table := v.Schema + "." + v.Table
		if v.Cluster != "" { // serve --clusters: which cluster, as the TUI labels it
			table = v.Cluster + ":" + table
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, table, v.Strategy, v.Status, progressCell(v), noteCell(v))
	}
	return tw.Flush()
}

func progressCell(v client.MigrationView) string {
	if v.Progress == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%% %s", 100*v.Progress.Ratio, v.Progress.Phase)
}

func noteCell(v client.MigrationView) string {
	switch {
	case v.Interrupted:
		return "INTERRUPTED: clean up with " + v.Cleanup
	case v.Paused:
		return "paused"
	case v.Throttle != nil && v.Throttle.Throttle:
		return "throttled: " + v.Throttle.Reason
	case v.Checklist != nil && v.Status == migration.StatusReady:
		return "gate: " + v.Checklist.Waiting(nil)
	case v.Error != "":
		return errtext.Clean(v.Error)
	case v.Reason != "":
		return v.Reason
	}
	return ""
}

func writeDetail(w io.Writer, format string, v client.MigrationView) error {
	if format == "json" {
		return json.NewEncoder(w).Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, val string) {
		if val != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, val)
		}
	}
	row("migration", v.ID)
	if v.Cluster != "" {
		row("cluster", v.Cluster)
	}
	row("table", v.Schema+"."+v.Table)
	row("strategy", v.Strategy)
	row("status", string(v.Status))
	row("ddl", strings.ReplaceAll(v.DDL, "\n", " "))
	row("owner", v.Owner.String())
	row("created", v.CreatedAt.Local().Format(time.DateTime))
	if !v.FinishedAt.IsZero() {
		row("finished", v.FinishedAt.Local().Format(time.DateTime))
	}
	if v.Progress != nil {
		row("progress", progressLine(*v.Progress))
	}
	if v.Throttle != nil && v.Throttle.Throttle {
		row("throttle", "on: "+v.Throttle.Reason)
	}
	row("approval", v.Approval)
	row("error", errtext.Clean(v.Error))
	if v.Interrupted {
		row("interrupted", v.Reason)
		row("clean up", v.Cleanup)
	}
	if r := v.Revert; r != nil {
		row("revert", revertLine(v.ID, *r))
		row("kept table", r.OldTable)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	writeChecklist(w, v)
	writeParticipants(w, v)
	return nil
}

// revertLine says whether and how the migration can be undone, or what closed the window.
func revertLine(id string, r runner.RevertWindow) string {
	if !r.Open {
		return "not possible: " + errtext.Clean(r.Reason)
	}
	return fmt.Sprintf("possible (`migrate revert %s`): replays the writes made since %s (binlog %s) into the kept table and swaps it back, through the gate; open until the kept table is dropped or the binlogs are purged past %s",
		id, r.Since.Local().Format(time.DateTime), r.Binlog, r.Binlog)
}

// lastEvents pages through a migration's event log and keeps the last n (none on an error).
func lastEvents(ctx context.Context, c *client.Client, id string, n int) []store.Event {
	var last []store.Event
	for since := int64(0); ; {
		r, err := c.Events(ctx, id, since, 0)
		if err != nil {
			return nil
		}
		last = append(last, r.Events...)
		if len(last) > n {
			last = last[len(last)-n:]
		}
		if len(r.Events) == 0 || r.Next <= since {
			return last
		}
		since = r.Next
	}
}

// writeRecentEvents prints the last n events of a migration's log.
func writeRecentEvents(w io.Writer, evs []store.Event, n int) {
	if len(evs) == 0 {
		return
	}
	if len(evs) > n {
		evs = evs[len(evs)-n:]
	}
	fmt.Fprintln(w, "\nrecent events")
	for _, e := range evs {
		fmt.Fprintf(w, "  %s  %-17s %s\n", e.Time.Local().Format("15:04:05"), e.Kind, errtext.Clean(e.Message))
	}
}

func writeChecklist(w io.Writer, v client.MigrationView) {
	if v.Checklist == nil {
		return
	}
	state := "closed: " + v.Checklist.Waiting(nil)
	if v.Checklist.Open {
		state = "open"
	}
	fmt.Fprintf(w, "\ncut-over gate (%s)\n", state)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, l := range v.Checklist.Lines {
		mark := "ok"
		switch {
		case l.Pending: // running, or participants not asked yet: not a failure (yet)
			mark = "pending"
		case !l.OK:
			mark = "WAIT"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", mark, l.Name, l.Value, l.Limit, l.Detail)
	}
	_ = tw.Flush()
}

func writeParticipants(w io.Writer, v client.MigrationView) {
	if len(v.Participants) == 0 {
		return
	}
	fmt.Fprintln(w, "\nparticipants")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, p := range v.Participants {
		live := "live"
		if !p.Live {
			live = "LAPSED"
		}
		answer := "-"
		switch {
		case p.Acked:
			answer = map[bool]string{true: "ready", false: "NOT READY"}[p.Ready]
		case p.Phase == "" && v.Live:
			answer = "not asked yet" // prepare goes out once every other condition holds
		}
		mode := string(p.Mode)
		if p.Controller != "" {
			mode += " via " + p.Controller // the controller of the fleet it registered with
		}
		fmt.Fprintf(tw, "  %s\t%s@%s\t%s\t%s\t%s %s\t%s\n", p.InstanceID, p.Service, p.Host, mode, live, p.Phase, answer, p.Message)
	}
	_ = tw.Flush()
}
