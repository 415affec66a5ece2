//go:build unix

package graybox

import (
	"fmt"
	"os"
	"syscall"
)

// osSignal maps a registration's signal name to the signal to listen for.
func osSignal(name string) (os.Signal, error) {
	switch name {
	case "SIGUSR1":
		return syscall.SIGUSR1, nil
	case "SIGUSR2":
		return syscall.SIGUSR2, nil
	}
	return nil, fmt.Errorf("graybox: unsupported signal %q", name)
}
