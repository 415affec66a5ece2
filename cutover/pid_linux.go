//go:build linux

package cutover

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// peerPID checks that process pid holds the TCP connection req came in on, and returns the
// process's start time (to tell it from a later process under the same pid). The kernel is the
// witness: the connection's socket inode, from /proc/net/tcp{,6}, must be among pid's open
// files (/proc/<pid>/fd). A registration cannot name another process's pid, then (issue 10: a
// registration with any pid made the controller signal an unrelated process, which died).
// Reading another user's /proc/<pid>/fd is not allowed, and neither is signalling another
// user's process (kill(2)), so both sides must run as the same user (or the controller as root).
func peerPID(req *http.Request, pid int) (uint64, error) {
	client, err := netip.ParseAddrPort(req.RemoteAddr)
	if err != nil {
		return 0, fmt.Errorf("%w: remote address %q", ErrPIDNotVerified, req.RemoteAddr)
	}
	server, ok := req.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return 0, fmt.Errorf("%w: no local address", ErrPIDNotVerified)
	}
	local, err := netip.ParseAddrPort(server.String())
	if err != nil || !client.Addr().Unmap().IsLoopback() {
		return 0, fmt.Errorf("%w: signal mode registers from the controller's own host (over loopback), not from %s", ErrPIDNotVerified, client)
	}
	inode, err := socketInode(client, local)
	if err != nil {
		return 0, err
	}
	if err := holdsSocket(pid, inode); err != nil {
		return 0, err
	}
	return procStart(pid)
}

// ErrPIDNotVerified refuses a signal-mode registration whose pid could not be bound to the
// registering process (403).
var ErrPIDNotVerified = errors.New("cutover: cannot verify that the pid made this registration")

// socketInode finds the inode of the TCP socket whose local end is client and remote end is
// server (the participant's side of the connection).
func socketInode(client, server netip.AddrPort) (string, error) {
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		inode, found := scanTCP(bufio.NewScanner(f), client, server)
		_ = f.Close()
		if found {
			return inode, nil
		}
	}
	return "", fmt.Errorf("%w: the connection from %s is not in /proc/net/tcp", ErrPIDNotVerified, client)
}

func scanTCP(sc *bufio.Scanner, client, server netip.AddrPort) (string, bool) {
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[0] == "sl" {
			continue
		}
		l, lok := parseProcAddr(f[1])
		r, rok := parseProcAddr(f[2])
		if lok && rok && sameEnd(l, client) && sameEnd(r, server) {
			return f[9], true
		}
	}
	return "", false
}

func sameEnd(a, b netip.AddrPort) bool {
	return a.Port() == b.Port() && a.Addr().Unmap() == b.Addr().Unmap()
}

// parseProcAddr reads "0100007F:1F90": the address as 32-bit words in host (little-endian)
// order, then the port in hex.
func parseProcAddr(s string) (netip.AddrPort, bool) {
	h, p, ok := strings.Cut(s, ":")
	raw, err := hex.DecodeString(h)
	port, perr := strconv.ParseUint(p, 16, 16)
	if !ok || err != nil || perr != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, false
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr, uint16(port)), true
}

// holdsSocket checks that one of pid's open files is socket inode.
func holdsSocket(pid int, inode string) error {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%w: pid %d: %w (the controller must run as the service's user to signal it)", ErrPIDNotVerified, pid, err)
	}
	want := "socket:[" + inode + "]"
	for _, e := range entries {
		if link, err := os.Readlink(dir + "/" + e.Name()); err == nil && link == want {
			return nil
		}
	}
	return fmt.Errorf("%w: pid %d does not hold the connection the registration came on", ErrPIDNotVerified, pid)
}

// procStart is field 22 of /proc/<pid>/stat, the start time in clock ticks since boot.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("%w: pid %d: %w", ErrPIDNotVerified, pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces: count after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 20 {
		return 0, fmt.Errorf("%w: pid %d: unreadable stat", ErrPIDNotVerified, pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}
