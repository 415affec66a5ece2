package ghost

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// gh-ost speaks to MariaDB as if it were MySQL, and two of its assumptions fail on MariaDB 10.11.
// Rather than fork gh-ost, the worker dials through a net.Conn that reads the server's handshake
// and, only when the server says it is MariaDB, rewrites two exact queries in the client→server
// byte stream. Against MySQL every byte passes through untouched. It runs only in the worker
// process: the dialer is registered for the whole "tcp" network of go-sql-driver, which must never
// happen in the controller.
//
//  1. Isolation. gh-ost v1.1.10 builds every DSN with transaction_isolation="REPEATABLE-READ"
//     (go/mysql/connection.go GetDBUri); go-sql-driver turns unknown DSN parameters into one
//     "SET a = b, c = d" query right after the handshake (connection.go handleParams). MariaDB
//     before 11.1 has no transaction_isolation variable, only tx_isolation, and refuses that SET
//     with Error 1193, so stock gh-ost cannot connect at all. The assignment is renamed.
//  2. Version. gh-ost v1.1.10 reads "select @@global.version" (go/base/utils.go
//     ValidateConnection) and picks MySQL 8.4's replica terms when the version is >= 8.4
//     (go/mysql/replica_terminology_map.go): MariaDB's "10.11.x" compares as newer, so gh-ost sends
//     "show binary log status" (Error 1064) and reads Replica_IO_Running from "show replica status",
//     whose columns MariaDB still names Slave_IO_Running. The query is answered the way MariaDB's
//     own handshake reports its version, "5.5.5-10.11.x-MariaDB…" (the prefix MariaDB keeps for
//     old replication clients), which gh-ost reads as pre-8.4 and so uses the classic terms. It is
//     a lie to gh-ost, kept as narrow as possible: that one exact query text, on MariaDB only.
//  3. Unlock. gh-ost's atomic cut-over releases its table lock with "unlock /* gh-ost */ tables"
//     (go/logic/applier.go AtomicCutOverMagicLock). Nothing is rewritten there, but when the
//     dialer was registered with a hook (the worker's rename guard, renameguard.go) that packet
//     is held until the hook returns: the guard makes sure gh-ost's RENAME is first in line for
//     the original table before the lock goes, which gh-ost itself checks only through
//     performance_schema.
//
//  4. The copy's tail. gh-ost asks for a chunk's end with "… limit 1 offset <chunk-1>" and, only
//     when that finds no row (less than a chunk is left before the table's end), again with its
//     temptable form, "… ) select_osc_chunk order by … limit 1" (go/logic/applier.go
//     CalculateNextIterationRangeEndValues, go/sql/builder.go …ViaTemptable). Nothing is
//     rewritten there either; the hook is told, before the query is written, that the copy is
//     at its last chunk (the worker keeps gh-ost's apply loop out of its one-second sleep across
//     the copy's end, copytail.go).
//
// The MySQL wire protocol frames each packet as a 3-byte little-endian payload length, a 1-byte
// sequence id and the payload. The server speaks first: its handshake packet (protocol 10) starts
// with the NUL-terminated server version. A command (COM_QUERY = 0x03 followed by the query text)
// always starts a new exchange with sequence id 0. Payloads of 0xffffff bytes continue in the next
// packet. Connections must not use TLS or compression: the rewriter reads the plain stream (gh-ost
// uses tls=false unless --ssl is given, and ghostgate does not enable it for the worker).

const (
	comQuery        = 0x03
	maxPayloadLen   = 1<<24 - 1
	packetHeaderLen = 4
	// rewriteMaxPayload bounds the packets that are buffered whole to be inspected: the driver's
	// SET of session variables is a few hundred bytes; everything bigger streams through untouched.
	rewriteMaxPayload = 4096
)

var (
	setPrefix      = []byte("SET ")
	isolationParam = []byte("transaction_isolation = ")
	legacyParam    = []byte("tx_isolation = ")
	// versionQuery is gh-ost's exact text (go/base/utils.go ValidateConnection).
	versionQuery  = []byte("select @@global.version")
	versionAnswer = []byte("select concat('5.5.5-', @@global.version)")
	// unlockQuery is gh-ost's exact text (go/logic/applier.go AtomicCutOverMagicLock, UnlockTables).
	unlockQuery = []byte("unlock /* gh-ost */ tables")
	// ghostMarker and tailMarker are in gh-ost's temptable range-end query (item 4).
	ghostMarker   = []byte("/* gh-ost ")
	tailMarker    = []byte(") select_osc_chunk")
	mariaDBMarker = "MariaDB"
	handshakeV10  = byte(0x0a)
)

// serverInfo is what the handshake told about the server.
type serverInfo struct {
	version string // as the handshake sent it, e.g. "5.5.5-10.11.19-MariaDB-0+deb12u1-log"
	mariaDB bool
	// legacyIsolation: the server knows only tx_isolation (MariaDB before 11.1).
	legacyIsolation bool
}

// parseHandshake reads the server version from the first packet's payload. A packet that is not
// a protocol-10 handshake (an error packet: too many connections, host blocked) yields a server
// that is not MariaDB, so nothing is ever rewritten on that connection.
func parseHandshake(payload []byte) serverInfo {
	if len(payload) < 2 || payload[0] != handshakeV10 {
		return serverInfo{}
	}
	end := bytes.IndexByte(payload[1:], 0)
	if end < 0 {
		return serverInfo{}
	}
	info := serverInfo{version: string(payload[1 : 1+end])}
	info.mariaDB = strings.Contains(info.version, mariaDBMarker)
	if info.mariaDB {
		major, minor, ok := mariaDBVersion(info.version)
		// transaction_isolation exists from MariaDB 11.1 on; tx_isolation in every version.
		info.legacyIsolation = !ok || major < 11 || (major == 11 && minor < 1)
	}
	return info
}

// mariaDBVersion parses "5.5.5-10.11.19-MariaDB…" or "10.11.19-MariaDB…" into 10, 11.
func mariaDBVersion(v string) (major, minor int, ok bool) {
	v = strings.TrimPrefix(v, "5.5.5-")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(strings.TrimLeftFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return major, minor, err1 == nil && err2 == nil
}

// CompatHooks are what a compat connection tells its registrant; a nil hook is not called. Both
// run on the goroutine that writes the query, before any byte of it is written.
type CompatHooks struct {
	BeforeUnlock func() // gh-ost's UNLOCK TABLES (item 3)
	CopyTail     func() // gh-ost's temptable range-end query (item 4)
}

// RegisterMariaDBCompat registers, for go-sql-driver DSNs that use network, a dialer whose
// connections apply the MariaDB rewrites above when, and only when, the server's handshake says
// MariaDB, and call hooks there. The worker registers it for "tcp"; tests use a private network
// name. Not for use in the controller process.
func RegisterMariaDBCompat(network string, hooks CompatHooks) {
	mysql.RegisterDialContext(network, func(ctx context.Context, addr string) (net.Conn, error) {
		d := net.Dialer{KeepAlive: 30 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", redirectTarget(addr)) // past the binlog filter's relay
		if err != nil {
			return nil, err
		}
		return &compatConn{Conn: conn, beforeUnlock: hooks.BeforeUnlock, copyTail: hooks.CopyTail}, nil
	})
}

// compatConn forwards every byte, except that on a MariaDB connection it rewrites the isolation
// SET and the version query.
type compatConn struct {
	net.Conn
	// beforeUnlock runs, under mu, before gh-ost's UNLOCK TABLES is written. Holding mu is safe:
	// go-sql-driver never reads a connection while it writes a command on it.
	beforeUnlock func()
	copyTail     func() // runs, under mu, before gh-ost's temptable range-end query is written

	mu           sync.Mutex
	greeting     []byte // the server's first packet, until it is complete
	greeted      bool   // the handshake has been read; server is known
	server       serverInfo
	pending      []byte // start of a small packet, held back until it is complete
	passThrough  int    // bytes of the current large packet still to forward unchanged
	continuation bool   // the next packet continues a maximum-size packet
}

// Read passes the server's bytes through, looking only at the first packet (the handshake).
func (c *compatConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if !c.greeted {
			c.observe(p[:n])
		}
		c.mu.Unlock()
	}
	return n, err
}

// observe collects the handshake packet and learns the server from it.
func (c *compatConn) observe(b []byte) {
	c.greeting = append(c.greeting, b...)
	if len(c.greeting) < packetHeaderLen || len(c.greeting) < packetHeaderLen+payloadLen(c.greeting) {
		return
	}
	c.server = parseHandshake(c.greeting[packetHeaderLen : packetHeaderLen+payloadLen(c.greeting)])
	c.greeted, c.greeting = true, nil
}

// Write reports len(p) on success even when the rewritten stream is shorter: the caller's bytes
// were all consumed. Before the handshake and on a server that is not MariaDB it is a plain write.
func (c *compatConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.greeted || !c.server.mariaDB {
		return c.Conn.Write(p)
	}
	total := len(p)
	out, err := c.feed(p)
	if len(out) > 0 {
		if _, werr := c.Conn.Write(out); werr != nil {
			return 0, werr
		}
	}
	if err != nil {
		return 0, err
	}
	return total, nil
}

// feed consumes p and returns the bytes to send now. Packets that may be the driver's SET are
// buffered whole; all others are forwarded as they come.
func (c *compatConn) feed(p []byte) ([]byte, error) {
	var out []byte
	for len(p) > 0 {
		if c.passThrough > 0 {
			n := min(c.passThrough, len(p))
			out = append(out, p[:n]...)
			c.passThrough -= n
			p = p[n:]
			continue
		}
		need := packetHeaderLen
		if len(c.pending) >= packetHeaderLen {
			need += payloadLen(c.pending)
		}
		take := min(need-len(c.pending), len(p))
		c.pending = append(c.pending, p[:take]...)
		p = p[take:]
		if len(c.pending) < packetHeaderLen {
			break
		}
		length, seq := payloadLen(c.pending), c.pending[3]
		candidate := seq == 0 && !c.continuation && length <= rewriteMaxPayload
		c.continuation = length == maxPayloadLen
		if !candidate {
			out = append(out, c.pending...)
			c.passThrough = length - (len(c.pending) - packetHeaderLen)
			c.pending = c.pending[:0]
			continue
		}
		if len(c.pending) < packetHeaderLen+length {
			continue
		}
		if c.beforeUnlock != nil && isQuery(c.pending, unlockQuery) {
			c.beforeUnlock() // nothing of this command has been written yet: out holds it all
		}
		if c.copyTail != nil && isTailQuery(c.pending) {
			c.copyTail()
		}
		out = append(out, rewritePacket(c.pending, c.server)...)
		c.pending = c.pending[:0]
	}
	return out, nil
}

// isQuery reports whether pkt (header and payload) is the COM_QUERY q, exactly.
func isQuery(pkt, q []byte) bool {
	return len(pkt) == packetHeaderLen+1+len(q) && pkt[packetHeaderLen] == comQuery && bytes.Equal(pkt[packetHeaderLen+1:], q)
}

// isTailQuery reports whether pkt (header and payload) is a COM_QUERY of gh-ost's temptable
// range-end query (item 4).
func isTailQuery(pkt []byte) bool {
	if len(pkt) <= packetHeaderLen || pkt[packetHeaderLen] != comQuery {
		return false
	}
	q := pkt[packetHeaderLen+1:]
	return bytes.Contains(q, ghostMarker) && bytes.Contains(q, tailMarker)
}

func payloadLen(header []byte) int {
	return int(header[0]) | int(header[1])<<8 | int(header[2])<<16
}

// rewritePacket returns pkt (header and payload) rewritten for server, with the length fixed, or
// pkt unchanged when it is anything else. Only an isolation assignment in the position the driver
// writes it (right after "SET " or ", ") is renamed, never text inside a value; the version query
// must match gh-ost's text exactly.
func rewritePacket(pkt []byte, server serverInfo) []byte {
	if !server.mariaDB || len(pkt) < packetHeaderLen+1 || pkt[packetHeaderLen] != comQuery {
		return pkt
	}
	query := pkt[packetHeaderLen+1:]
	var rewritten []byte
	switch {
	case bytes.Equal(query, versionQuery):
		rewritten = versionAnswer
	case !server.legacyIsolation || !bytes.HasPrefix(query, setPrefix):
		return pkt
	case bytes.HasPrefix(query[len(setPrefix):], isolationParam):
		rewritten = concat(setPrefix, legacyParam, query[len(setPrefix)+len(isolationParam):])
	default:
		needle := append([]byte(", "), isolationParam...)
		i := bytes.Index(query, needle)
		if i < 0 {
			return pkt
		}
		rewritten = concat(query[:i+2], legacyParam, query[i+len(needle):])
	}
	n := len(rewritten) + 1
	out := make([]byte, 0, packetHeaderLen+n)
	out = append(out, byte(n), byte(n>>8), byte(n>>16), pkt[3], comQuery)
	return append(out, rewritten...)
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}
