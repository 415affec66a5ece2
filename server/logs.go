package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// MaxLogRead bounds one read of a worker log.
const MaxLogRead = 1 << 20

// ErrNoLog: the migration has no worker log here (a native ALTER runs without a worker; the
// log of a gh-ost run lives in the work dir of the controller that ran it) (404).
var ErrNoLog = errors.New("server: no worker log")

// WorkerLog reads the gh-ost worker log of migration id from byte offset on (at most
// MaxLogRead bytes), or its last tail lines when tail > 0. next is the offset to read on from.
func (c *Controller) WorkerLog(ctx context.Context, id string, offset int64, tail int) (text []byte, next int64, err error) {
	m, err := c.opts.Store.Get(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	cl, ok := c.clusterOf(m)
	if !ok {
		return nil, 0, fmt.Errorf("%w for %s: it ran on cluster %q, which this controller does not run", ErrNoLog, id, m.Cluster)
	}
	path := cl.Runner.WorkerLogFile(id)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		why := "it was removed, or another controller with another --work-dir ran it"
		if m.Strategy != "ghost" {
			why = "an " + m.Strategy + " ALTER runs without a gh-ost worker"
		}
		return nil, 0, fmt.Errorf("%w for %s at %s: %s", ErrNoLog, id, path, why)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("server: worker log of %s: %w", id, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("server: worker log of %s: %w", id, err)
	}
	size := st.Size()
	if tail > 0 {
		offset = max(0, size-MaxLogRead)
	}
	if offset > size {
		offset = size // the log was started anew (a resumed run): read what there is
	}
	b := make([]byte, min(size-offset, MaxLogRead))
	n, err := f.ReadAt(b, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("server: worker log of %s: %w", id, err)
	}
	b = b[:n]
	if tail > 0 {
		b = lastLines(b, tail)
	}
	return b, offset + int64(n), nil
}

// lastLines returns the last n lines of b.
func lastLines(b []byte, n int) []byte {
	end := len(b)
	if end > 0 && b[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n--
			if n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}
