package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghostgate/ghostgate/store"
)

// CleanupOptions are the flags of `migrate cleanup`.
type CleanupOptions struct {
	IO        IO
	Conn      ConnOptions
	Migration string
	Schema    string
	Table     string
	Yes       bool
	Output    string
	// StateDatabase is the schema holding ghostgate's state (store.DefaultDatabase).
	StateDatabase string
}

func newCleanupCmd(streams IO) *cobra.Command {
	opts := &CleanupOptions{IO: streams}
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "List and clean up what dead runs left behind",
		Long: `cleanup lists the leftovers of runs that died: migrations still marked active whose
controller is gone, and gh-ost tables (_<table>_gho, _<table>_ghc) with no live migration. It
also lists the old tables that completed migrations kept (_<table>_<time>_del), with their age and
size: those are not leftovers but undo points. Without --migration or --table it only lists, each
with the command that cleans it.

--table takes the exact name the listing prints (_orders_ghc, _orders_20261122001822_del), or an
original table's name for all of its leftovers (never its kept old tables, nor the ghost and
changelog tables an interrupted migration can still resume from: each of those is dropped only by
its own name, with a warning). Every drop or rename is named as it happens.

Cleaning never touches an original table. A dead migration is marked failed (which frees its
table for a new migration); a ghost or changelog table is dropped; an old table whose original is
missing is renamed back. Leftovers are detected again right before acting, so a stale listing
cannot make it drop the wrong thing.`,
		Example: `  migrate cleanup -d shop                          # list
  migrate cleanup --migration 01M8098DTQA55DV6RRWMZRCP4Q
  migrate cleanup --schema shop --table _orders_ghc --yes
  migrate cleanup --schema shop --table orders --yes   # every leftover of orders, no kept table`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if opts.Output != "text" && opts.Output != "json" {
				return usageErrorf("--output %q: want text or json", opts.Output)
			}
			if opts.Table != "" && opts.Schema == "" {
				return usageErrorf("--table needs --schema")
			}
			return cleanupRun(c.Context(), opts)
		},
	}
	fs := cmd.Flags()
	opts.Conn.addFlags(fs)
	fs.StringVar(&opts.Migration, "migration", "", "clean up this dead migration")
	fs.StringVar(&opts.Schema, "schema", "", "only leftovers in this schema")
	fs.StringVar(&opts.Table, "table", "", "clean up this gh-ost table, or the leftovers of this original table (with --schema)")
	fs.BoolVarP(&opts.Yes, "yes", "y", false, "clean without asking")
	fs.StringVarP(&opts.Output, "output", "o", "text", "text or json")
	fs.StringVar(&opts.StateDatabase, "state-database", store.DefaultDatabase, "schema on the primary that holds ghostgate's state")
	return cmd
}

func cleanupRun(ctx context.Context, opts *CleanupOptions) error {
	db, cfg, err := opts.Conn.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := store.Open(ctx, db, store.Options{Database: opts.StateDatabase})
	if err != nil {
		return err
	}
	if opts.Migration != "" { // a short id, as the TUI and status show them (issue 13)
		if opts.Migration, err = st.Resolve(ctx, opts.Migration); err != nil {
			return err
		}
	}
	var schemas []string
	if s := firstNonEmpty(opts.Schema, cfg.DBName); s != "" {
		schemas = []string{s}
	}
	left, err := st.Leftovers(ctx, schemas...)
	if err != nil {
		return err
	}
	acting := opts.Migration != "" || opts.Table != ""
	if !acting {
		return listLeftovers(opts, left)
	}
	chosen, err := chooseLeftovers(left, opts)
	if err != nil {
		return err
	}
	for _, l := range chosen {
		fmt.Fprintf(opts.IO.ErrOut, "%s\n  remedy: %s\n", l.Reason, remedy(l))
		if l.Kept() {
			fmt.Fprintf(opts.IO.ErrOut, "  warning: this is the undo point of %s: once it is dropped the migration can no longer be reverted\n",
				firstNonEmpty(l.MigrationID, "its migration"))
		}
		if l.Resumable != "" {
			fmt.Fprintf(opts.IO.ErrOut, "  warning: migration %s can resume from its %s; once this is cleaned up it cannot, and a new run copies from zero\n",
				l.MigrationID, l.Resumable)
		}
	}
	if !opts.Yes {
		if !opts.IO.InTTY {
			return usageErrorf("not a terminal: pass --yes to clean up without confirmation")
		}
		if !confirm(opts.IO, fmt.Sprintf("Clean up %d leftover(s)?", len(chosen))) {
			return fmt.Errorf("%w: not confirmed", ErrCancelled)
		}
	}
	for _, l := range chosen {
		if err := st.Cleanup(ctx, l); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.Out, "cleaned: %s\n", remedy(l))
	}
	return nil
}

// remedy names what cleaning l does: the exact statement, or marking a migration failed.
func remedy(l store.Leftover) string {
	if l.Kind == store.LeftoverStaleMigration {
		return "mark migration " + l.MigrationID + " failed (interrupted)"
	}
	return firstNonEmpty(l.SQL, "nothing: "+l.Reason)
}

// chooseLeftovers picks what --migration or --table names. --table matches a gh-ost table by its
// exact name (what the listing prints) or an original table's leftovers; a kept old table only by
// its own name, so that no undo point is dropped without being named (issue 13).
func chooseLeftovers(left []store.Leftover, opts *CleanupOptions) ([]store.Leftover, error) {
	var out, keptOf, resumableOf []store.Leftover
	for _, l := range left {
		switch {
		case opts.Migration != "" && l.Kind == store.LeftoverStaleMigration && l.MigrationID == opts.Migration:
			out = append(out, l)
		case opts.Table == "" || l.Schema != opts.Schema || l.Kind == store.LeftoverStaleMigration:
		case l.OrphanTable == opts.Table:
			out = append(out, l)
		case l.Table == opts.Table && l.Kept():
			keptOf = append(keptOf, l)
		case l.Table == opts.Table && l.Resumable != "":
			resumableOf = append(resumableOf, l) // a resume's copy: only by its own name (issue 9)
		case l.Table == opts.Table:
			out = append(out, l)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	if len(resumableOf) > 0 {
		names := make([]string, len(resumableOf))
		for i, r := range resumableOf {
			names[i] = r.OrphanTable
		}
		return nil, fmt.Errorf("%s.%s has no leftovers to drop in bulk: %s belong to interrupted migration %s, which can resume from its %s; resume it, or drop each by its own name (--table %s)",
			opts.Schema, opts.Table, strings.Join(names, ", "), resumableOf[0].MigrationID, resumableOf[0].Resumable, names[0])
	}
	if len(keptOf) > 0 {
		names := make([]string, len(keptOf))
		for i, k := range keptOf {
			names[i] = k.OrphanTable
		}
		return nil, fmt.Errorf("%s.%s has no leftovers, only kept old tables of completed migrations (%s): drop one by its own name, e.g. --table %s",
			opts.Schema, opts.Table, strings.Join(names, ", "), names[0])
	}
	return nil, fmt.Errorf("no leftover matches (run 'migrate cleanup' without --migration/--table to list them)")
}

func listLeftovers(opts *CleanupOptions, left []store.Leftover) error {
	if opts.Output == "json" {
		if left == nil {
			left = []store.Leftover{}
		}
		return json.NewEncoder(opts.IO.Out).Encode(left)
	}
	var kept []store.Leftover
	n := 0
	for _, l := range left {
		if l.Kept() {
			kept = append(kept, l)
			continue
		}
		n++
		fmt.Fprintf(opts.IO.Out, "%s\n  clean up with: %s\n", l.Reason, l.Command)
	}
	if n == 0 {
		fmt.Fprintln(opts.IO.Out, "no leftovers")
	}
	if len(kept) > 0 {
		fmt.Fprintln(opts.IO.Out, "\nkept old tables (undo points of completed migrations, not leftovers):")
	}
	for _, k := range kept {
		fmt.Fprintf(opts.IO.Out, "%s.%s  %s\n  drop with: %s\n", k.Schema, k.OrphanTable, keptDetail(k, time.Now()), k.Command)
	}
	return nil
}

// keptDetail is "of orders, migration 01M…, kept 3h ago, ~300000 rows, 27.0 MiB".
func keptDetail(k store.Leftover, now time.Time) string {
	parts := []string{"of " + k.Table}
	if k.MigrationID != "" {
		parts = append(parts, "migration "+k.MigrationID)
	}
	if !k.KeptSince.IsZero() {
		parts = append(parts, "kept "+now.Sub(k.KeptSince).Round(time.Second).String()+" ago")
	}
	return strings.Join(append(parts, fmt.Sprintf("~%d rows", k.Rows), mib(k.Bytes)), ", ")
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
