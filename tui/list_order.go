package tui

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/migration"
)

// recentFailure is how long a failed migration stays pinned at the top of the list: long
// enough for the DBA to notice it, short enough that last week's failures do not bury today's
// work.
const recentFailure = 24 * time.Hour

// needsAction reports whether v waits for a person: an interrupted run (its controller is
// gone: clean up), a migration at the gate (approve or see what holds it), a recent failure.
// The list pins these first so that one of them is on screen even at 80×24 (issue 13: the
// one migration that needed action was row 26 of 26).
func needsAction(v client.MigrationView, now time.Time) bool {
	switch {
	case v.Interrupted, v.Status == migration.StatusReady:
		return true
	case v.Status == migration.StatusFailed:
		return !v.FinishedAt.IsZero() && now.Sub(v.FinishedAt) < recentFailure || v.FinishedAt.IsZero() && now.Sub(v.UpdatedAt) < recentFailure
	}
	return false
}

// rank is the group a migration is listed in: needing action, then still running, then ended.
func rank(v client.MigrationView, now time.Time) int {
	switch {
	case needsAction(v, now):
		return 0
	case v.Status.Active():
		return 1
	}
	return 2
}

// order sorts the migrations for the list: by rank, then newest first (ids are time-ordered
// ULIDs, so they break ties between migrations created in the same instant).
func order(vs []client.MigrationView, now time.Time) []client.MigrationView {
	out := slices.Clone(vs)
	slices.SortStableFunc(out, func(a, b client.MigrationView) int {
		return cmp.Or(cmp.Compare(rank(a, now), rank(b, now)), b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
	})
	return out
}

// matches reports whether v matches the filter text: every word must be found,
// case-insensitively, in its id, schema.table, strategy or status.
func matches(v client.MigrationView, filter string) bool {
	hay := strings.ToLower(strings.Join([]string{v.ID, v.Cluster, v.Schema + "." + v.Table, v.Strategy, statusText(v)}, " "))
	for _, w := range strings.Fields(strings.ToLower(filter)) {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}

// statusText is a migration's state in a word or two, as the list shows it.
func statusText(v client.MigrationView) string {
	switch {
	case v.Interrupted:
		return "interrupted"
	case v.Status == migration.StatusReady:
		return "at the gate"
	case v.Status == migration.StatusRunning && v.Paused:
		return "paused"
	case v.QueuePosition != nil:
		return "queued #" + strconv.Itoa(*v.QueuePosition+1) // its place in its cluster's queue
	}
	return string(v.Status)
}
