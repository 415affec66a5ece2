package ghost

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// streamed is one event as a binlog client sees it: its end position, its type, and for a row
// event its table and rows.
type streamed struct {
	logPos uint32
	typ    replication.EventType
	table  string
	rows   string
}

// readStream reads the primary's binlog from start to end through host:port with go-mysql, as
// gh-ost's streamer does, and returns its events after the format description.
func readStream(t *testing.T, env sandbox.Env, host string, port int, serverID uint32, start, end gomysql.Position) []streamed {
	t.Helper()
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: serverID, Flavor: gomysql.MySQLFlavor, Host: host, Port: uint16(port),
		User: env.Primary.User, Password: env.Primary.Password, UseDecimal: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	defer syncer.Close()
	stream, err := syncer.StartSync(start)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []streamed
	file := start.Name
	for {
		ev, err := stream.GetEvent(ctx)
		require.NoError(t, err, "reading the stream through %s:%d", host, port)
		if r, ok := ev.Event.(*replication.RotateEvent); ok {
			file = string(r.NextLogName)
			continue
		}
		if ev.Header.EventType == replication.FORMAT_DESCRIPTION_EVENT || ev.Header.Timestamp == 0 {
			continue // the same in both streams, but sent as the stream starts, not in the range
		}
		s := streamed{logPos: ev.Header.LogPos, typ: ev.Header.EventType}
		switch e := ev.Event.(type) {
		case *replication.TableMapEvent:
			s.table = string(e.Schema) + "." + string(e.Table)
		case *replication.RowsEvent:
			s.table = string(e.Table.Schema) + "." + string(e.Table.Table)
			var b strings.Builder
			for _, row := range e.Rows {
				for _, v := range row {
					if bs, ok := v.([]byte); ok && len(bs) > 64 {
						v = fmt.Sprintf("%d bytes %x", len(bs), bs[:8]) // the big row, summed up
					} else if str, ok := v.(string); ok && len(str) > 64 {
						v = fmt.Sprintf("%d chars %q", len(str), str[:8])
					}
					fmt.Fprintf(&b, "%v|", v)
				}
				b.WriteString(";")
			}
			s.rows = b.String()
		}
		out = append(out, s)
		if file == end.Name && ev.Header.LogPos >= end.Pos {
			return out
		}
	}
}

func binlogEnd(t *testing.T, db *sandboxtest.DB) gomysql.Position {
	t.Helper()
	pos, err := masterPosition(context.Background(), db.Primary)
	require.NoError(t, err)
	return pos
}

// TestBinlogFilter reads the same stretch of a real binlog straight from the primary and through
// the filter: the filtered stream is the unfiltered one without the table maps and row events of
// the tables not followed, event for event (positions, types, rows), including an event larger
// than one protocol packet (16 MiB) of each kind and a transaction that writes both kinds.
func TestBinlogFilter(t *testing.T) {
	env := sandboxtest.Isolated(t, "ghost-filter")
	db := sandboxtest.NewOn(t, env)
	// A row of 17 MiB needs a larger packet than the default 16 MiB; new connections get it.
	db.Exec(t, "SET GLOBAL max_allowed_packet = 64*1024*1024")
	big := sandboxtest.Open(t, env.Primary.DSN(db.Name))
	big.SetMaxIdleConns(0)
	db.Exec(t,
		"CREATE TABLE f (id INT NOT NULL PRIMARY KEY, v VARCHAR(64) NOT NULL, b LONGBLOB NULL)",
		"CREATE TABLE `_f_ghc` (id INT NOT NULL PRIMARY KEY, v VARCHAR(64) NOT NULL)",
		"CREATE TABLE o (id INT NOT NULL PRIMARY KEY, v VARCHAR(64) NOT NULL, b LONGBLOB NULL)")

	start := binlogEnd(t, db)
	db.Exec(t,
		"INSERT INTO o (id, v) SELECT seq, CONCAT('o-', seq) FROM seq_1_to_5000", // many row events
		"INSERT INTO f (id, v) SELECT seq, CONCAT('f-', seq) FROM seq_1_to_300",
		"INSERT INTO `_f_ghc` VALUES (1, 'heartbeat')",
		"UPDATE f SET v = CONCAT(v, '-u') WHERE id % 7 = 0",
		"UPDATE o SET v = CONCAT(v, '-u') WHERE id % 3 = 0",
		"DELETE FROM f WHERE id % 11 = 0",
		"DELETE FROM o WHERE id % 13 = 0",
		"BEGIN", "INSERT INTO f (id, v) VALUES (1000, 'both')", "UPDATE o SET v = 'both' WHERE id = 1",
		"INSERT INTO o (id, v) VALUES (9000, 'both')", "UPDATE `_f_ghc` SET v = 'hb-2' WHERE id = 1", "COMMIT",
	)
	// One row event of more than 16 MiB in each table: it spans several packets.
	for _, table := range []string{"o", "f"} {
		_, err := big.Exec("INSERT INTO " + table + " (id, v, b) VALUES (20000, 'big', REPEAT('z', 17*1024*1024))")
		require.NoError(t, err)
	}
	db.Exec(t, "UPDATE f SET v = 'after-big' WHERE id = 1")
	end := binlogEnd(t, db)

	direct := readStream(t, env, env.Primary.Host, env.Primary.Port, 4101, start, end)

	followed := func(table string) bool {
		return table == db.Name+".f" || table == db.Name+"._f_ghc"
	}
	var want []streamed
	droppedRows, bigRows := 0, 0
	for _, e := range direct {
		if e.table != "" && !followed(e.table) {
			if e.rows != "" {
				droppedRows++
			}
			continue
		}
		if strings.Contains(e.rows, "17825792 bytes") {
			bigRows++
		}
		want = append(want, e)
	}
	require.Greater(t, droppedRows, 10, "the unfiltered stream has row events of o to drop")
	require.Equal(t, 1, bigRows, "the big row of f is in the stream")

	// With its 64 KiB buffer, and with one of 1 KiB, which refills (and moves its bytes) inside
	// nearly every packet.
	for i, size := range []int{64 << 10, 1 << 10} {
		filter, err := startBinlogFilter(env.Primary.Addr(), followTables(strings.ToUpper(db.Name), "F", "_f_ghc"))
		require.NoError(t, err)
		filter.readBuffer = size
		host, port := filter.Addr()
		filtered := readStream(t, env, host, port, uint32(4102+i), start, end)
		filter.Close()
		require.True(t, reflect.DeepEqual(want, filtered), "read buffer %d: the filtered stream (%d events) differs from the unfiltered one without o (%d events)", size, len(filtered), len(want))

		st := filter.Stats()
		t.Logf("read buffer %d: %v", size, st)
		require.GreaterOrEqual(t, st.Dropped, int64(droppedRows))
		require.Greater(t, st.DroppedBytes, int64(17<<20), "the 17 MiB event of o was dropped whole")
		require.Zero(t, st.PassThrough)
	}
}

// TestBinlogFilterKeepsWhatItCannotParse: an event the filter cannot place is forwarded.
func TestBinlogFilterKeepsWhatItCannotParse(t *testing.T) {
	sf := &streamFilter{follow: followTables("s", "t"), tableIDSize: 6, tables: map[uint64]bool{}}
	event := func(typ replication.EventType, body ...byte) []byte {
		ev := make([]byte, 1+19, 1+19+len(body))
		ev[1+4] = byte(typ)
		return append(ev, body...)
	}
	tableMap := func(id byte, schema, table string) []byte {
		body := []byte{id, 0, 0, 0, 0, 0, 0, 0, byte(len(schema))}
		body = append(append(body, schema...), 0, byte(len(table)))
		return event(replication.TABLE_MAP_EVENT, append(append(body, table...), 0)...)
	}
	rows := func(id byte) []byte { return event(replication.WRITE_ROWS_EVENTv2, id, 0, 0, 0, 0, 0, 0, 0) }

	require.True(t, sf.keep([]byte{0xff, 1, 2}), "an error packet")
	require.True(t, sf.keep(rows(9)), "rows of a table whose map was never seen")
	require.True(t, sf.keep(tableMap(1, "S", "T")), "the followed table, whatever the case")
	require.True(t, sf.keep(rows(1)))
	require.False(t, sf.keep(tableMap(2, "s", "other")))
	require.False(t, sf.keep(rows(2)))
	require.False(t, sf.keep(tableMap(3, "other", "t")), "the same name in another schema")
	require.True(t, sf.keep(event(replication.TABLE_MAP_EVENT, 4, 0, 0)), "a table map too short to read")
	require.True(t, sf.keep(event(replication.XID_EVENT, 1, 2, 3, 4, 5, 6, 7, 8)))
	require.True(t, sf.keep(rows(1)[:1+19+3]), "a row event too short for its table id")
	require.Len(t, sf.tables, 3, "the table maps read, none of the one too short")
}

// TestBinlogFilterServerGone: when the server cannot be reached, or the relay goes while a stream
// runs, the binlog client gets an error at once (gh-ost then reconnects or fails the run); it is
// never left waiting on a relay that forwards nothing.
func TestBinlogFilterServerGone(t *testing.T) {
	env := sandboxtest.Env(t)
	syncer := func(host string, port int) *replication.BinlogSyncer {
		return replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
			ServerID: 4201, Flavor: gomysql.MySQLFlavor, Host: host, Port: uint16(port),
			User: env.Primary.User, Password: env.Primary.Password,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			// go-mysql would reconnect by itself (gh-ost bounds that with
			// BinlogSyncerMaxReconnectAttempts): the relay's own end is what is tested here.
			DisableRetrySync: true,
		})
	}

	// Nothing listens behind the relay: the dial fails and the client's connection is closed.
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	target := gone.Addr().String()
	require.NoError(t, gone.Close())
	filter, err := startBinlogFilter(target, followTables("s", "t"))
	require.NoError(t, err)
	host, port := filter.Addr()
	s := syncer(host, port)
	started := time.Now()
	_, err = s.StartSync(gomysql.Position{Name: "binlog.000001", Pos: 4})
	require.Error(t, err, "no server behind the relay")
	require.Less(t, time.Since(started), 15*time.Second)
	s.Close()
	filter.Close()

	// A stream that runs, and the relay closed under it: the next read fails.
	filter, err = startBinlogFilter(env.Primary.Addr(), followTables("s", "t"))
	require.NoError(t, err)
	host, port = filter.Addr()
	s = syncer(host, port)
	defer s.Close()
	db := sandboxtest.New(t)
	stream, err := s.StartSync(binlogEnd(t, db))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = stream.GetEvent(ctx) // the stream's first event: it runs
	require.NoError(t, err)
	filter.Close()
	for err == nil {
		_, err = stream.GetEvent(ctx)
	}
	require.NotErrorIs(t, err, context.DeadlineExceeded, "the closed relay must end the stream, not leave it waiting")
}
