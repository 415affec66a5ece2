//go:build unix

package store

import (
	"errors"
	"syscall"
)

// pidAlive reports whether a process with this pid exists on this host. Signal 0 checks without
// delivering anything; EPERM means it exists but belongs to someone else. A reused pid reads as
// alive, which errs on the safe side: the heartbeat age still exposes the dead run.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
