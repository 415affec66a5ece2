package ghost

import (
	"bytes"
	"database/sql"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	gmysql "github.com/github/gh-ost/go/mysql"
	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// packet frames payload as one MySQL packet with sequence id seq.
func packet(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

func query(q string) []byte { return append([]byte{comQuery}, q...) }

func TestRewritePacket(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []byte
	}{
		{"only param", packet(0, query(`SET transaction_isolation = "REPEATABLE-READ"`)),
			packet(0, query(`SET tx_isolation = "REPEATABLE-READ"`))},
		{"last param", packet(0, query(`SET autocommit = true, transaction_isolation = "REPEATABLE-READ"`)),
			packet(0, query(`SET autocommit = true, tx_isolation = "REPEATABLE-READ"`))},
		{"middle param", packet(0, query(`SET a = 1, transaction_isolation = "READ-COMMITTED", b = 2`)),
			packet(0, query(`SET a = 1, tx_isolation = "READ-COMMITTED", b = 2`))},
		{"other SET untouched", packet(0, query(`SET autocommit = true`)), packet(0, query(`SET autocommit = true`))},
		{"inside a value untouched", packet(0, query(`SET a = 'x transaction_isolation = y'`)),
			packet(0, query(`SET a = 'x transaction_isolation = y'`))},
		{"select untouched", packet(0, query(`SELECT 'SET transaction_isolation = 1'`)),
			packet(0, query(`SELECT 'SET transaction_isolation = 1'`))},
		{"not a query", packet(0, append([]byte{0x16}, `SET transaction_isolation = 1`...)),
			packet(0, append([]byte{0x16}, `SET transaction_isolation = 1`...))},
		{"empty", packet(0, nil), packet(0, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, rewritePacket(tt.in, mariaDB1011))
			// MySQL knows transaction_isolation and its version is the truth: nothing changes.
			require.Equal(t, tt.in, rewritePacket(tt.in, mysql84), "a MySQL connection is never rewritten")
		})
	}
}

var (
	mariaDB1011 = parseHandshake(greetingPayload("5.5.5-10.11.19-MariaDB-0+deb12u1-log"))
	mariaDB112  = parseHandshake(greetingPayload("11.2.3-MariaDB"))
	mysql84     = parseHandshake(greetingPayload("8.4.3"))
	mysql80     = parseHandshake(greetingPayload("8.0.36-0ubuntu0.22.04.1"))
)

// greetingPayload is the start of a protocol-10 handshake from a server of version v.
func greetingPayload(v string) []byte {
	return append(append([]byte{handshakeV10}, v...), 0, 1, 2, 3, 4)
}

func TestParseHandshake(t *testing.T) {
	require.Equal(t, serverInfo{version: "5.5.5-10.11.19-MariaDB-0+deb12u1-log", mariaDB: true, legacyIsolation: true}, mariaDB1011)
	require.Equal(t, serverInfo{version: "11.2.3-MariaDB", mariaDB: true}, mariaDB112)
	require.Equal(t, serverInfo{version: "8.4.3"}, mysql84)
	require.Equal(t, serverInfo{version: "8.0.36-0ubuntu0.22.04.1"}, mysql80)
	require.Equal(t, serverInfo{}, parseHandshake([]byte{0xff, 0x10, 0x04, 'T', 'o', 'o'}), "an error packet is no server")
	require.Equal(t, serverInfo{}, parseHandshake(nil))
}

// The version query is answered as MariaDB's handshake reports it, on MariaDB only and only for
// gh-ost's exact text.
func TestRewriteVersionQuery(t *testing.T) {
	in := packet(0, query("select @@global.version"))
	want := packet(0, query("select concat('5.5.5-', @@global.version)"))
	require.Equal(t, want, rewritePacket(in, mariaDB1011))
	require.Equal(t, want, rewritePacket(in, mariaDB112), "every MariaDB compares as >= 8.4")
	require.Equal(t, in, rewritePacket(in, mysql84))
	require.Equal(t, in, rewritePacket(in, mysql80))
	for _, other := range []string{"select @@global.version, 1", "SELECT @@GLOBAL.VERSION", "select @@version"} {
		p := packet(0, query(other))
		require.Equal(t, p, rewritePacket(p, mariaDB1011), other)
	}
	// MariaDB from 11.1 knows transaction_isolation: the SET stays as gh-ost wrote it.
	set := packet(0, query(`SET transaction_isolation = "REPEATABLE-READ"`))
	require.Equal(t, set, rewritePacket(set, mariaDB112))
}

// The connection learns the server from the handshake it reads, and only then rewrites.
func TestCompatConnLearnsServer(t *testing.T) {
	for _, tc := range []struct {
		version string
		rewrite bool
	}{{"5.5.5-10.11.19-MariaDB-log", true}, {"8.4.3", false}} {
		client, server := net.Pipe()
		c := &compatConn{Conn: client}
		greeting := packet(0, greetingPayload(tc.version))
		go func() { _, _ = server.Write(greeting) }()
		got := make([]byte, 0, len(greeting))
		for len(got) < len(greeting) { // the driver may read a packet in pieces
			buf := make([]byte, 3)
			n, err := c.Read(buf)
			require.NoError(t, err)
			got = append(got, buf[:n]...)
		}
		require.Equal(t, greeting, got, "the server's bytes pass through")
		in := packet(0, query("select @@global.version"))
		read := make(chan []byte)
		go func() {
			b := make([]byte, 256)
			n, _ := server.Read(b)
			read <- b[:n]
		}()
		_, err := c.Write(in)
		require.NoError(t, err)
		sent := <-read
		if tc.rewrite {
			require.Equal(t, packet(0, query("select concat('5.5.5-', @@global.version)")), sent, tc.version)
		} else {
			require.Equal(t, in, sent, tc.version)
		}
		_ = client.Close()
		_ = server.Close()
	}
}

// recorder is a net.Conn that records what is written to it.
type recorder struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func TestCompatConnStream(t *testing.T) {
	set := packet(0, query(`SET autocommit = true, transaction_isolation = "REPEATABLE-READ"`))
	setFixed := packet(0, query(`SET autocommit = true, tx_isolation = "REPEATABLE-READ"`))
	handshake := packet(1, append([]byte{0x85, 0xa6}, strings.Repeat("h", 40)...))
	big := packet(0, query("INSERT INTO t VALUES ('"+strings.Repeat("x", 10000)+"')"))
	seqOne := packet(1, query(`SET transaction_isolation = "X"`)) // not a command start
	stream := bytes.Join([][]byte{handshake, set, big, seqOne, set}, nil)
	want := bytes.Join([][]byte{handshake, setFixed, big, seqOne, setFixed}, nil)

	for _, chunk := range []int{len(stream), 1, 3, 5, 7, 4096} {
		rec := &recorder{}
		c := &compatConn{Conn: rec, greeted: true, server: mariaDB1011}
		for rest := stream; len(rest) > 0; {
			n := min(chunk, len(rest))
			written, err := c.Write(rest[:n])
			require.NoError(t, err)
			require.Equal(t, n, written, "Write reports the caller's bytes as consumed")
			rest = rest[n:]
		}
		require.Equal(t, want, rec.buf.Bytes(), "chunk size %d", chunk)
	}
}

func TestCompatConnMaxSizeContinuation(t *testing.T) {
	// A maximum-size packet continues in the next one, which carries the same command; even a
	// small continuation with a wrapped sequence id 0 must not be treated as a new command.
	header := []byte{0xff, 0xff, 0xff, 0}
	payload := bytes.Repeat([]byte{'a'}, maxPayloadLen)
	cont := packet(0, query(`SET transaction_isolation = "X"`))
	stream := append(append(header, payload...), cont...)
	rec := &recorder{}
	c := &compatConn{Conn: rec, greeted: true, server: mariaDB1011}
	_, err := c.Write(stream)
	require.NoError(t, err)
	require.Equal(t, stream, rec.buf.Bytes())
}

// TestCompatDSNAgainstMariaDB proves both the problem and the fix on the sandbox: gh-ost's own DSN
// is refused by MariaDB 10.11 (Error 1193), and accepted through the compat dialer with the
// isolation level applied.
func TestCompatDSNAgainstMariaDB(t *testing.T) {
	db := sandboxtest.New(t)
	cfg := gmysql.NewConnectionConfig()
	cfg.Key.Hostname = db.Env.Primary.Host
	cfg.Key.Port = db.Env.Primary.Port
	cfg.User, cfg.Password = db.Env.Primary.User, db.Env.Primary.Password
	cfg.TransactionIsolation = "READ-COMMITTED" // not the server default, so the effect is visible
	uri := cfg.GetDBUri(db.Name)
	require.Contains(t, uri, "transaction_isolation=")

	plain, err := sql.Open("mysql", uri)
	require.NoError(t, err)
	t.Cleanup(func() { _ = plain.Close() })
	err = plain.Ping()
	var myErr *mysql.MySQLError
	require.True(t, errors.As(err, &myErr), "stock gh-ost DSN should fail on MariaDB < 11.1, got %v", err)
	require.EqualValues(t, 1193, myErr.Number)

	RegisterMariaDBCompat("ggcompat", CompatHooks{})
	t.Cleanup(func() { mysql.DeregisterDialContext("ggcompat") })
	compat, err := sql.Open("mysql", strings.Replace(uri, "@tcp(", "@ggcompat(", 1))
	require.NoError(t, err)
	t.Cleanup(func() { _ = compat.Close() })
	var level string
	require.NoError(t, compat.QueryRow("SELECT @@session.tx_isolation").Scan(&level))
	require.Equal(t, "READ-COMMITTED", level)
	var autocommit int
	require.NoError(t, compat.QueryRow("SELECT @@session.autocommit").Scan(&autocommit))
	require.Equal(t, 1, autocommit)

	// gh-ost's version query: the truth on a plain connection picks MySQL 8.4's terms, which
	// MariaDB rejects; the compat answer picks the classic ones.
	var truth, answered string
	require.NoError(t, db.Primary.QueryRow("select @@global.version").Scan(&truth))
	require.NoError(t, compat.QueryRow("select @@global.version").Scan(&answered))
	require.Equal(t, "5.5.5-"+truth, answered)
	require.Equal(t, "binary log status", gmysql.ReplicaTermFor(truth, "master status"))
	require.Equal(t, "master status", gmysql.ReplicaTermFor(answered, "master status"))
	require.Equal(t, "Slave_IO_Running", gmysql.ReplicaTermFor(answered, "Slave_IO_Running"))
	_, err = db.Primary.Exec("show binary log status")
	require.Error(t, err, "MariaDB 10.11 rejects MySQL 8.4's statement")
}

// The copy-tail hook fires on gh-ost's temptable range-end query (one and two key columns) and on
// nothing else: not the offset form gh-ost asks first, not a query that merely names the alias.
func TestCompatConnSeesCopyTail(t *testing.T) {
	tail := "select /* gh-ost `d`.`t` iteration:7 */ `id` from ( select `id` from `d`.`t` where ((`id` > _binary'5')) and ((`id` < _binary'9') or ((`id` = _binary'9'))) order by `id` asc limit 1000 ) select_osc_chunk order by `id` desc limit 1"
	offset := "select /* gh-ost `d`.`t` iteration:7 */ `id` from `d`.`t` where ((`id` > _binary'5')) and ((`id` < _binary'9') or ((`id` = _binary'9'))) order by `id` asc limit 1 offset 999"
	for _, tt := range []struct {
		name   string
		server serverInfo
		stream []byte
		calls  int
	}{
		{"the temptable range end", mariaDB1011, packet(0, query(tail)), 1},
		{"the offset range end", mariaDB1011, packet(0, query(offset)), 0},
		{"not gh-ost's", mariaDB1011, packet(0, query("select 1 from (select 1) select_osc_chunk")), 0},
		{"MySQL: not looked at", mysql84, packet(0, query(tail)), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			calls := 0
			c := &compatConn{Conn: rec, greeted: true, server: tt.server, copyTail: func() {
				calls++
				require.Zero(t, rec.buf.Len(), "the hook runs before any byte of the query is written")
			}}
			_, err := c.Write(tt.stream)
			require.NoError(t, err)
			require.Equal(t, tt.calls, calls)
			require.Equal(t, tt.stream, rec.buf.Bytes(), "the query passes unchanged")
		})
	}
}

func TestCompatConnHoldsUnlock(t *testing.T) {
	unlock := packet(0, query("unlock /* gh-ost */ tables"))
	other := packet(0, query("unlock tables"))
	for _, tt := range []struct {
		name   string
		server serverInfo
		stream []byte
		calls  int
	}{
		{"gh-ost's unlock on MariaDB", mariaDB1011, unlock, 1},
		{"any other unlock", mariaDB1011, other, 0},
		{"split across writes", mariaDB1011, unlock, 1},
		{"MySQL: nothing is held", mysql84, unlock, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			calls := 0
			c := &compatConn{Conn: rec, greeted: true, server: tt.server, beforeUnlock: func() {
				calls++
				require.Zero(t, rec.buf.Len(), "the hook runs before any byte of the unlock is written")
			}}
			chunk := len(tt.stream)
			if tt.name == "split across writes" {
				chunk = 3
			}
			for rest := tt.stream; len(rest) > 0; {
				n := min(chunk, len(rest))
				_, err := c.Write(rest[:n])
				require.NoError(t, err)
				rest = rest[n:]
			}
			require.Equal(t, tt.calls, calls)
			require.Equal(t, tt.stream, rec.buf.Bytes(), "the unlock itself is never rewritten")
		})
	}
}
