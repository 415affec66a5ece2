package cli

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestErrorReporting: errors are one line in the command's words: no package prefixes, no
// doubled words, a hint to --help instead of the whole usage; as JSON with -o json; a missing
// database is a usage error.
func TestErrorReporting(t *testing.T) {
	r := run(t, "", "plan", "--bogus")
	require.Equal(t, ExitUsage, r.code)
	require.Equal(t, "error: unknown flag: --bogus\nRun 'migrate plan --help' for usage.\n", r.stderr)

	r = run(t, "", "status", "--server", "http://127.0.0.1:1")
	require.Equal(t, ExitError, r.code)
	require.NotContains(t, r.stderr, "client:")
	require.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)

	r = run(t, "", "status", "--server", "http://127.0.0.1:1", "-o", "json")
	require.Equal(t, ExitError, r.code)
	require.Empty(t, r.stderr)
	var e errorJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &e), r.stdout)
	require.Equal(t, "error", e.Code)
	require.Equal(t, ExitError, e.ExitCode)
	require.Contains(t, e.Error, "connection refused")

	r = run(t, "", "approve", "-o", "json")
	require.Equal(t, ExitUsage, r.code)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &e), r.stdout)
	require.Equal(t, "usage", e.Code)
}

// TestMissingDatabaseIsUsage: a table without a database and no -d is a mistake in the call
// (exit 2, saying -d), not the server's "Error 1046: No database selected".
func TestMissingDatabaseIsUsage(t *testing.T) {
	d := newOrders(t)
	conn := connArgs(t, d)
	noDB := conn[:len(conn)-2] // without -d
	r := run(t, "", append(append([]string{"plan"}, noDB...), "ALTER TABLE orders ADD COLUMN c INT NULL")...)
	require.Equal(t, ExitUsage, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, "table orders names no database")
	require.Contains(t, r.stderr, "give -d/--database")
	require.NotContains(t, r.stderr, "1046")
	r = run(t, "", append(append([]string{"plan"}, noDB...), "ALTER TABLE "+d.Name+".orders ADD COLUMN c INT NULL")...)
	require.Equal(t, ExitOK, r.code, "a qualified name needs no -d: %s", r.stderr)
}

// TestQuietDriver: the MySQL driver's own log lines ("[mysql] packets.go:58: unexpected EOF")
// no longer reach stderr; the error is reported once, by the command.
func TestQuietDriver(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte{0x0a, 0, 0}) // half a handshake header, then hang up
			_ = c.Close()
		}
	}()
	stderr := captureStderr(t, func() {
		QuietDriver()
		port := ln.Addr().(*net.TCPAddr).Port
		r := run(t, "", "plan", "-P", strconv.Itoa(port), "-d", "x", "ALTER TABLE t ADD c INT")
		require.Equal(t, ExitError, r.code)
		require.Contains(t, r.stderr, "error: connect to 127.0.0.1:")
	})
	require.NoError(t, ln.Close())
	<-done
	require.NotContains(t, stderr, "[mysql]")
}

// captureStderr runs f with file descriptor 2 redirected: the driver's default logger holds
// the *os.File of fd 2 from its init, so replacing os.Stderr would not catch it.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	rd, wr, err := os.Pipe()
	require.NoError(t, err)
	saved, err := syscall.Dup(2)
	require.NoError(t, err)
	require.NoError(t, syscall.Dup2(int(wr.Fd()), 2))
	out := make(chan string)
	go func() {
		b, _ := io.ReadAll(rd)
		out <- string(b)
	}()
	f()
	require.NoError(t, syscall.Dup2(saved, 2))
	require.NoError(t, syscall.Close(saved))
	require.NoError(t, wr.Close())
	return <-out
}
