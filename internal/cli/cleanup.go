package cli

import (
	"context"
	"encoding/json"
	"fmt"

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
controller is gone, and gh-ost tables (_<table>_gho, _<table>_ghc, _<table>_del) with no live
migration. Without --migration or --table it only lists them, each with the command that cleans it.

Cleaning never touches an original table. A dead migration is marked failed (which frees its
table for a new migration); a ghost or changelog table is dropped; an old table kept after a
cut-over (_del) is dropped only when its original exists. Leftovers are detected again right
before acting, so a stale listing cannot make it drop the wrong thing.`,
		Example: `  migrate cleanup -d shop                          # list
  migrate cleanup --migration 01M8098DTQA55DV6RRWMZRCP4Q
  migrate cleanup --schema shop --table orders --yes`,
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
	fs.StringVar(&opts.Table, "table", "", "clean up the gh-ost tables of this table (with --schema)")
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
	chosen := chooseLeftovers(left, opts)
	acting := opts.Migration != "" || opts.Table != ""
	if !acting {
		return listLeftovers(opts, left)
	}
	if len(chosen) == 0 {
		return fmt.Errorf("no leftover matches (run 'migrate cleanup' without --migration/--table to list them)")
	}
	for _, l := range chosen {
		fmt.Fprintf(opts.IO.ErrOut, "%s\n  remedy: %s\n", l.Reason, firstNonEmpty(l.SQL, "mark the migration failed"))
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
		fmt.Fprintf(opts.IO.Out, "cleaned: %s\n", l.Reason)
	}
	return nil
}

func chooseLeftovers(left []store.Leftover, opts *CleanupOptions) []store.Leftover {
	var out []store.Leftover
	for _, l := range left {
		switch {
		case opts.Migration != "" && l.Kind == store.LeftoverStaleMigration && l.MigrationID == opts.Migration:
			out = append(out, l)
		case opts.Table != "" && l.Kind == store.LeftoverOrphanTable && l.Schema == opts.Schema && l.Table == opts.Table:
			out = append(out, l)
		}
	}
	return out
}

func listLeftovers(opts *CleanupOptions, left []store.Leftover) error {
	if opts.Output == "json" {
		if left == nil {
			left = []store.Leftover{}
		}
		return json.NewEncoder(opts.IO.Out).Encode(left)
	}
	if len(left) == 0 {
		fmt.Fprintln(opts.IO.Out, "no leftovers")
		return nil
	}
	for _, l := range left {
		fmt.Fprintf(opts.IO.Out, "%s\n  clean up with: %s\n", l.Reason, l.Command)
	}
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
