//go:build !unix

package cutover

import "fmt"

// sendSignal is not available here: signal-mode participants need a unix host.
func sendSignal(pid int, name string) error {
	return fmt.Errorf("cutover: cannot send %s to pid %d: signals need a unix host", name, pid)
}
