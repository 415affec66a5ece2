// Package leak checks that graybox's tests leave no goroutine running, in place of goleak
// (graybox's go.mod lists no dependency; see package require).
package leak

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// VerifyTestMain runs m, then waits (up to 5s) until every goroutine started by the tests has
// ended; it exits 1 with their stacks when some did not.
func VerifyTestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if left := wait(5 * time.Second); left != "" {
			fmt.Fprintf(os.Stderr, "leak: goroutines still running after the tests:\n%s\n", left)
			code = 1
		}
	}
	os.Exit(code)
}

// wait returns the stacks of the goroutines other than the runtime's own and this one that are
// still running when within has passed ("" once none is).
func wait(within time.Duration) string {
	deadline := time.Now().Add(within)
	for {
		left := others()
		if len(left) == 0 || time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func others() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		switch {
		case strings.Contains(g, "leak.others("),
			strings.Contains(g, "os/signal.signal_recv"), strings.Contains(g, "os/signal.loop"),
			strings.Contains(g, "testing.(*M).") && !strings.Contains(g, "testing.tRunner"),
			strings.Contains(g, "runtime.goexit") && strings.Contains(g, "created by runtime."):
		default:
			out = append(out, g)
		}
	}
	return out
}
