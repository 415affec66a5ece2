//go:build !linux

package cutover

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrPIDNotVerified refuses a signal-mode registration whose pid could not be bound to the
// registering process (403).
var ErrPIDNotVerified = errors.New("cutover: cannot verify that the pid made this registration")

// peerPID cannot bind a pid to a connection here (it reads Linux's /proc): signal mode is
// refused, HTTP mode works everywhere.
func peerPID(_ *http.Request, pid int) (uint64, error) {
	return 0, fmt.Errorf("%w: pid %d: signal mode needs a Linux controller; use HTTP mode", ErrPIDNotVerified, pid)
}

func procStart(pid int) (uint64, error) { return peerPID(nil, pid) }
