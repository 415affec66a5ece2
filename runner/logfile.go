package runner

import (
	"path/filepath"

	"github.com/ghostgate/ghostgate/runner/ghost"
)

// WorkerLogFile is where the gh-ost worker of migration id writes its stdout and stderr (gh-ost's
// own log and status lines): the migration's directory under Config.WorkDir, as ghostSpec lays
// it out, and ghost.Spec.LogFile within it. A native migration has no worker, hence no file.
func (r *Runner) WorkerLogFile(id string) string {
	return ghost.Spec{WorkDir: filepath.Join(r.cfg.WorkDir, id)}.LogFile()
}
