package ghost

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/github/gh-ost/go/base"
	"github.com/go-mysql-org/go-mysql/replication"
)

// The binlog filter: gh-ost's streamer decodes every row event of the binlog it reads, and turns
// every row of every table into a BinlogEntry before its listeners throw away the ones of tables
// they do not follow (go-mysql's BinlogParser decodes all rows; gh-ost v1.1.10's
// binlog/gomysql_reader.go handleRowsEvent builds an entry per row and logic/streamer.go
// notifyListeners compares the table names). During a copy, most of that binlog is gh-ost's own
// INSERT…SELECT into the ghost table: issue 12 measured the worker at ~20% of a copy's CPU, most
// of it decoding rows nobody reads.
//
// gh-ost builds its replication.BinlogSyncer itself (NewGoMySQLReader), with no Dialer and no
// RowsEventDecodeFunc, and starts it in the same call, so neither hook can be set without a fork
// or a data race. What the worker controls is the address gh-ost reads from. So gh-ost's
// inspector address points at this relay on loopback: go-sql-driver connections to it are
// redirected by the compat dialer to the real server (compat.go), and the only connection that
// reaches the relay is go-mysql's, the binlog stream. The relay forwards every byte of it, except
// that after COM_BINLOG_DUMP it drops the TABLE_MAP and row events of tables gh-ost does not
// follow (everything but the original table and the changelog table), renumbering the packets
// so that the client's sequence check holds. Positions stay right: each event carries its own
// end position (log_pos), which is all gh-ost's coordinates read. Anything the relay cannot
// parse with certainty is forwarded, so the worst a parse mistake costs is the old CPU.
//
// With TLS or protocol compression negotiated the relay cannot see events and passes the bytes
// through unchanged (the worker never asks for either today).

// Client capability flags (MySQL protocol, Protocol::HandshakeResponse41).
const (
	clientCompress = 0x00000020
	clientSSL      = 0x00000800
)

// Commands that start a binlog stream.
const (
	comBinlogDump     = 0x12
	comBinlogDumpGTID = 0x1e
)

const maxPacketPayload = 1<<24 - 1

// binlogFilter is the relay. Start it with startBinlogFilter, read FilterStats when done, Close it.
type binlogFilter struct {
	ln     net.Listener
	target string
	follow func(schema, table string) bool
	// readBuffer is the stream reader's size (64 KiB); tests make it small so that the buffer
	// refills, and moves, in the middle of packets.
	readBuffer int

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup

	stats filterCounters
}

type filterCounters struct {
	forwarded, dropped, droppedBytes, passThrough atomic.Int64
}

// FilterStats says what the relay did, for the worker's log.
type FilterStats struct {
	Forwarded    int64 `json:"forwarded"`     // events forwarded in binlog streams
	Dropped      int64 `json:"dropped"`       // TABLE_MAP and row events of tables gh-ost does not follow
	DroppedBytes int64 `json:"dropped_bytes"` // their size, packet headers included
	PassThrough  int64 `json:"pass_through"`  // connections relayed unfiltered (TLS or compression)
}

// startBinlogFilter listens on loopback and relays connections to target, filtering binlog
// streams to the tables follow accepts.
func startBinlogFilter(target string, follow func(schema, table string) bool) (*binlogFilter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("binlog filter: listen: %w", err)
	}
	f := &binlogFilter{ln: ln, target: target, follow: follow, readBuffer: 64 << 10, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

// Addr is the relay's loopback host and port.
func (f *binlogFilter) Addr() (string, int) {
	a := f.ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

// Stats reads the counters.
func (f *binlogFilter) Stats() FilterStats {
	return FilterStats{
		Forwarded: f.stats.forwarded.Load(), Dropped: f.stats.dropped.Load(),
		DroppedBytes: f.stats.droppedBytes.Load(), PassThrough: f.stats.passThrough.Load(),
	}
}

// Close stops accepting, closes every relayed connection and waits for the relay's goroutines.
func (f *binlogFilter) Close() {
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	_ = f.ln.Close()
	f.wg.Wait()
}

func (f *binlogFilter) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *binlogFilter) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	_ = c.Close()
}

func (f *binlogFilter) accept() {
	defer f.wg.Done()
	for {
		client, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.relay(client)
		}()
	}
}

// relay joins one client connection to a new connection to the target.
func (f *binlogFilter) relay(client net.Conn) {
	if !f.track(client) {
		_ = client.Close()
		return
	}
	defer f.untrack(client)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	d := net.Dialer{KeepAlive: 30 * time.Second}
	server, err := d.DialContext(ctx, "tcp", f.target)
	cancel()
	if err != nil {
		return // the client sees its connection closed and reports it
	}
	if !f.track(server) {
		_ = server.Close()
		return
	}
	defer f.untrack(server)

	s := &relayState{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.clientToServer(client, server, s)
		_ = server.Close() // the client went: end the other direction too
	}()
	_ = f.serverToClient(server, client, s)
	_ = client.Close()
	<-done
}

// relayState is what the client→server direction tells the other one.
type relayState struct {
	dumping     atomic.Bool // COM_BINLOG_DUMP sent: the server's packets are binlog events
	passThrough atomic.Bool // TLS or compression: no framing possible
}

// clientToServer forwards the client's packets, watching for the handshake response's
// capabilities and for the command that starts the binlog stream.
func (f *binlogFilter) clientToServer(client, server net.Conn, s *relayState) error {
	br := bufio.NewReaderSize(client, 16<<10)
	first := true
	for {
		header, err := br.Peek(4)
		if err != nil {
			return err
		}
		n, seq := payloadLen(header), header[3]
		if n >= 1 {
			head, err := br.Peek(4 + min(n, 5))
			if err != nil {
				return err
			}
			payload := head[4:]
			switch {
			case first && len(payload) >= 4:
				if caps := binary.LittleEndian.Uint32(payload); caps&(clientSSL|clientCompress) != 0 {
					s.passThrough.Store(true)
					f.stats.passThrough.Add(1)
				}
			case seq == 0 && (payload[0] == comBinlogDump || payload[0] == comBinlogDumpGTID) && !s.passThrough.Load():
				// Set before the command can reach the server: every byte the server sends after
				// this is the stream (go-mysql has read every earlier answer in full).
				s.dumping.Store(true)
			}
		}
		first = false
		if _, err := io.CopyN(server, br, int64(4+n)); err != nil {
			return err
		}
		if s.passThrough.Load() {
			_, err := io.Copy(server, br)
			return err
		}
	}
}

// serverToClient copies the server's bytes as they come until the binlog stream starts, then
// frames the stream's packets and filters its events.
func (f *binlogFilter) serverToClient(server, client net.Conn, s *relayState) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 {
			if s.dumping.Load() {
				// These bytes are the first of the stream (see clientToServer): frame from here.
				r := io.MultiReader(bytes.NewReader(buf[:n]), server)
				return f.filterStream(bufio.NewReaderSize(r, f.readBuffer), client)
			}
			if _, werr := client.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			return err
		}
	}
}

// streamFilter holds what the stream has told so far: the table id size, from the format
// description event, and whether each table id is followed, from its TABLE_MAP event.
type streamFilter struct {
	follow      func(schema, table string) bool
	tableIDSize int
	tables      map[uint64]bool
}

// filterStream frames the binlog stream's packets: an event starts with a packet whose payload is
// 0x00 followed by the event; an event of 16 MiB or more continues in the packets that follow. A
// dropped event's packets are all skipped; the forwarded packets are renumbered from 1, the
// number the server gave the first answer to the dump command.
func (f *binlogFilter) filterStream(br *bufio.Reader, client net.Conn) error {
	w := bufio.NewWriterSize(client, 64<<10)
	sf := &streamFilter{follow: f.follow, tableIDSize: 6, tables: map[uint64]bool{}}
	seq := byte(1)
	continuing, dropping := false, false
	for {
		if br.Buffered() < 4 {
			if err := w.Flush(); err != nil { // nothing more at hand: let the client have it
				return err
			}
		}
		header, err := br.Peek(4)
		if err != nil {
			_ = w.Flush()
			return err
		}
		n := payloadLen(header)
		if !continuing {
			head, err := br.Peek(4 + min(n, 512))
			if err != nil {
				_ = w.Flush()
				return err
			}
			dropping = !sf.keep(head[4:])
			if dropping {
				f.stats.dropped.Add(1)
			} else if len(head) > 4 && head[4] == 0x00 {
				f.stats.forwarded.Add(1)
			}
		}
		continuing = n == maxPacketPayload
		if dropping {
			f.stats.droppedBytes.Add(int64(4 + n))
			if _, err := br.Discard(4 + n); err != nil {
				return err
			}
			continue
		}
		// From n, not from header: the Peek above may have moved the buffer under it.
		if _, err := w.Write([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}); err != nil {
			return err
		}
		seq++
		if _, err := br.Discard(4); err != nil {
			return err
		}
		if _, err := io.CopyN(w, br, int64(n)); err != nil {
			return err
		}
	}
}

// keep says whether the packet that starts an event (or an error/EOF packet) is forwarded. It
// drops only what it has parsed with certainty to be a table map or a row event of a table not
// followed.
func (sf *streamFilter) keep(payload []byte) bool {
	const headerLen = 19 // v4 event header: timestamp 4, type 1, server id 4, size 4, log_pos 4, flags 2
	if len(payload) < 1+headerLen || payload[0] != 0x00 {
		return true // an error or EOF packet, or too short to be an event
	}
	ev := payload[1:]
	switch t := replication.EventType(ev[4]); t {
	case replication.FORMAT_DESCRIPTION_EVENT:
		// body: binlog version 2, server version 50, create time 4, header length 1, then the
		// post-header length of each event type from 1 on. A TABLE_MAP post-header of 6 bytes
		// means 4-byte table ids (servers before 5.1.4); 8 means 6-byte ones.
		if at := headerLen + 2 + 50 + 4 + 1 + int(replication.TABLE_MAP_EVENT) - 1; len(ev) > at && ev[at] == 6 {
			sf.tableIDSize = 4
		} else {
			sf.tableIDSize = 6
		}
		sf.tables = map[uint64]bool{}
		return true
	case replication.TABLE_MAP_EVENT:
		id, schema, table, ok := sf.tableMap(ev[headerLen:])
		if !ok {
			return true
		}
		followed := sf.follow(schema, table)
		sf.tables[id] = followed
		return followed
	default:
		if !isRowsEvent(t) || len(ev) < headerLen+sf.tableIDSize {
			return true
		}
		followed, known := sf.tables[sf.tableID(ev[headerLen:])]
		return followed || !known
	}
}

func (sf *streamFilter) tableID(b []byte) uint64 {
	var id uint64
	for i := sf.tableIDSize - 1; i >= 0; i-- {
		id = id<<8 | uint64(b[i])
	}
	return id
}

// tableMap reads a TABLE_MAP event's body: table id, flags 2, schema name (length byte, name,
// NUL), table name (length byte, name, NUL).
func (sf *streamFilter) tableMap(b []byte) (id uint64, schema, table string, ok bool) {
	p := sf.tableIDSize + 2
	if len(b) < p+1 {
		return 0, "", "", false
	}
	id = sf.tableID(b)
	sl := int(b[p])
	if len(b) < p+1+sl+1+1 {
		return 0, "", "", false
	}
	schema = string(b[p+1 : p+1+sl])
	p += 1 + sl + 1
	tl := int(b[p])
	if len(b) < p+1+tl {
		return 0, "", "", false
	}
	return id, schema, string(b[p+1 : p+1+tl]), true
}

func isRowsEvent(t replication.EventType) bool {
	switch t {
	case replication.WRITE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv0,
		replication.WRITE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv1,
		replication.WRITE_ROWS_EVENTv2, replication.UPDATE_ROWS_EVENTv2, replication.DELETE_ROWS_EVENTv2,
		replication.PARTIAL_UPDATE_ROWS_EVENT,
		replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1,
		replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		return true
	}
	return false
}

// followTables is the filter of a migration: its schema's original table and changelog table,
// compared as gh-ost's listeners compare them (logic/streamer.go notifyListeners: EqualFold).
func followTables(schema string, tables ...string) func(string, string) bool {
	return func(s, t string) bool {
		if !strings.EqualFold(s, schema) {
			return false
		}
		for _, name := range tables {
			if strings.EqualFold(t, name) {
				return true
			}
		}
		return false
	}
}

// redirects maps relay addresses to the servers behind them, for the compat dialer: gh-ost's
// go-sql-driver connections to the inspector's (relay) address go straight to the server.
var redirects sync.Map // string → string

func redirectTarget(addr string) string {
	if t, ok := redirects.Load(addr); ok {
		return t.(string)
	}
	return addr
}

// pointInspectorAt makes gh-ost read its binlog through f: the inspector's address becomes the
// relay's, gh-ost's SQL connections to that address are redirected to the server (compat.go),
// and gh-ost's port check, which would now compare the relay's port with the server's
// @@global.port, is skipped (gh-ost's own --skip-port-validation; ghostgate's preflight has
// connected to the configured addresses directly).
func (f *binlogFilter) pointInspectorAt(mc *base.MigrationContext) {
	host, port := f.Addr()
	redirects.Store(net.JoinHostPort(host, strconv.Itoa(port)), f.target)
	mc.InspectorConnectionConfig.Key.Hostname, mc.InspectorConnectionConfig.Key.Port = host, port
	mc.SkipPortValidation = true
}

// String is the log line of the relay's work.
func (s FilterStats) String() string {
	return fmt.Sprintf("binlog filter: forwarded %d event(s), dropped %d event(s) (%.1f MiB) of tables gh-ost does not follow", s.Forwarded, s.Dropped, float64(s.DroppedBytes)/(1<<20))
}
