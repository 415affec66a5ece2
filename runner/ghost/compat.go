package ghost

import (
	"bytes"
	"context"
	"net"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// gh-ost v1.1.6 builds every DSN with transaction_isolation="REPEATABLE-READ"; go-sql-driver turns
// unknown DSN parameters into one "SET a = b, c = d" query right after the handshake
// (connection.go handleParams). MariaDB before 11.1 has no transaction_isolation variable, only
// tx_isolation, and refuses that SET with Error 1193, so stock gh-ost cannot connect at all. Rather
// than fork gh-ost, the worker dials through a net.Conn that rewrites that one assignment in the
// client→server byte stream. It runs only in the worker process: the dialer is registered for the
// whole "tcp" network of go-sql-driver, which must never happen in the controller.
//
// The MySQL wire protocol frames each packet as a 3-byte little-endian payload length, a 1-byte
// sequence id and the payload. A command (COM_QUERY = 0x03 followed by the query text) always
// starts a new exchange with sequence id 0. Payloads of 0xffffff bytes continue in the next packet.
// Connections must not use TLS or compression: the rewriter reads the plain stream (gh-ost uses
// tls=false unless --ssl is given, and ghostgate does not enable it for the worker).

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
)

// RegisterMariaDBCompat registers, for go-sql-driver DSNs that use network, a dialer that rewrites
// the driver's "SET transaction_isolation = …" into "SET tx_isolation = …". The worker registers it
// for "tcp"; tests use a private network name. Not for use in the controller process.
func RegisterMariaDBCompat(network string) {
	mysql.RegisterDialContext(network, func(ctx context.Context, addr string) (net.Conn, error) {
		d := net.Dialer{KeepAlive: 30 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return &compatConn{Conn: conn}, nil
	})
}

// compatConn forwards every byte the client writes, except that it rewrites the isolation SET.
type compatConn struct {
	net.Conn

	mu           sync.Mutex
	pending      []byte // start of a small packet, held back until it is complete
	passThrough  int    // bytes of the current large packet still to forward unchanged
	continuation bool   // the next packet continues a maximum-size packet
}

// Write reports len(p) on success even when the rewritten stream is shorter: the caller's bytes
// were all consumed.
func (c *compatConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
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
		out = append(out, rewritePacket(c.pending)...)
		c.pending = c.pending[:0]
	}
	return out, nil
}

func payloadLen(header []byte) int {
	return int(header[0]) | int(header[1])<<8 | int(header[2])<<16
}

// rewritePacket returns pkt (header and payload) with the isolation assignment of a driver SET
// renamed and the length fixed, or pkt unchanged when it is anything else. Only an assignment in
// the position the driver writes it (right after "SET " or ", ") is renamed, never text inside a
// value.
func rewritePacket(pkt []byte) []byte {
	if len(pkt) < packetHeaderLen+1 || pkt[packetHeaderLen] != comQuery {
		return pkt
	}
	query := pkt[packetHeaderLen+1:]
	if !bytes.HasPrefix(query, setPrefix) {
		return pkt
	}
	var rewritten []byte
	switch {
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
