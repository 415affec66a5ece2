package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ghostgate/ghostgate/store"
)

// DefaultWorkDirRetention is how long the work directory of an ended migration (its worker log,
// which `migrate logs` serves) is kept before SweepWorkDir removes it.
const DefaultWorkDirRetention = 7 * 24 * time.Hour

// SweepWorkDir removes the per-migration directories under Config.WorkDir that nothing needs any
// more: those of migrations that ended (or that the store does not know) and whose last write is
// older than Config.WorkDirRetention. The directory of an active migration is never touched, nor
// anything that is not a directory named like a migration. A worker's socket and flag files
// already go when it exits (ghost.Worker); this is for the logs, and for directories a killed
// controller left. It returns the directories removed.
func (r *Runner) SweepWorkDir(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(r.cfg.WorkDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("runner: sweep work dir: %w", err)
	}
	var removed []string
	for _, e := range entries {
		if !e.IsDir() || !store.ValidID(e.Name()) {
			continue
		}
		dir := filepath.Join(r.cfg.WorkDir, e.Name())
		m, err := r.store.Get(ctx, e.Name())
		switch {
		case err == nil && m.Status.Active():
			continue
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return removed, err
		}
		if age, ok := lastWrite(dir); !ok || time.Since(age) < r.cfg.WorkDirRetention {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			return removed, fmt.Errorf("runner: sweep work dir: %w", err)
		}
		removed = append(removed, dir)
	}
	return removed, nil
}

// lastWrite is the newest modification time of dir and the files in it.
func lastWrite(dir string) (time.Time, bool) {
	st, err := os.Stat(dir)
	if err != nil {
		return time.Time{}, false
	}
	newest := st.ModTime()
	files, err := os.ReadDir(dir)
	if err != nil {
		return time.Time{}, false
	}
	for _, f := range files {
		if info, err := f.Info(); err == nil && info.ModTime().After(newest) {
			newest = info.ModTime()
		}
	}
	return newest, true
}
