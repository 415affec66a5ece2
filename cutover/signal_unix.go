//go:build unix

package cutover

import (
	"fmt"
	"syscall"
)

// sendSignal sends the named signal (wire.ValidSignal) to pid.
func sendSignal(pid int, name string) error {
	var sig syscall.Signal
	switch name {
	case "SIGUSR1":
		sig = syscall.SIGUSR1
	case "SIGUSR2":
		sig = syscall.SIGUSR2
	default:
		return fmt.Errorf("cutover: unsupported signal %q", name)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("cutover: send %s to pid %d: %w", name, pid, err)
	}
	return nil
}
