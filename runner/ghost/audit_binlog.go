package ghost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// markerState is the changelog state gh-ost writes while it holds the table lock, then waits to see
// in its binlog stream: every event before it has been applied to the ghost table.
const markerState = "AllEventsUpToLockProcessed"

// lostRow is one row image pair from a rows event on the original table after the last marker.
type lostRow struct {
	op            LostWriteOp
	before, after []any // by the original table's column positions; nil when the op has none
	binlog        string
	problem       string // set when the event cannot be replayed (e.g. an incomplete row image)
}

// binlogScan follows the binlog events of one cut-over. It is pure: fed events in order, it keeps
// the rows events on the table seen since gh-ost's last marker until gh-ost's rename (pending:
// the original table's layout), and those on the table after the rename (later: the new table's
// writes, in its layout), which decide the rows' final state.
type binlogScan struct {
	schema, table, changelog, ghost string
	sawMarker, renamed              bool
	// oldName is what gh-ost's rename called the original table. A DML that had already opened
	// the original can still write it after the rename, under this name: a lost write as well.
	oldName string
	pending []lostRow
	later   []lostRow
}

func newBinlogScan(schema, table string) *binlogScan {
	return &binlogScan{schema: schema, table: table, changelog: ChangelogTable(table), ghost: GhostTable(table)}
}

// handle takes one event; at is "file:pos" where it starts.
func (s *binlogScan) handle(ev replication.Event, typ replication.EventType, at string) {
	switch e := ev.(type) {
	case *replication.QueryEvent:
		if s.sawMarker && s.isCutOverRename(string(e.Query)) {
			s.renamed = true
			s.oldName = s.renamedTo(string(e.Query))
		}
	case *replication.RowsEvent:
		if e.Table == nil || string(e.Table.Schema) != s.schema {
			return
		}
		switch string(e.Table.Table) {
		case s.changelog:
			if hasMarker(e, typ) {
				// Everything on the table before this was applied by gh-ost: only later rows count.
				s.sawMarker, s.pending = true, nil
			}
		case s.table:
			switch {
			case s.renamed:
				s.later = append(s.later, rowsOf(e, typ, at)...)
			case s.sawMarker:
				s.pending = append(s.pending, rowsOf(e, typ, at)...)
			}
		case s.oldName:
			if s.renamed && s.oldName != "" {
				s.pending = append(s.pending, rowsOf(e, typ, at)...)
			}
		}
	}
}

// isCutOverRename matches gh-ost's atomic cut-over statement (logic/applier.go
// AtomicCutoverRename): "rename /* gh-ost */ table `s`.`t` to `s`.`_t_…_del`, `s`.`_t_gho` to
// `s`.`t`". Its rollback renames the other way round and does not match.
func (s *binlogScan) isCutOverRename(q string) bool {
	orig := "`" + s.schema + "`.`" + s.table + "`"
	return strings.HasPrefix(q, "rename /* gh-ost */ table "+orig+" to ") &&
		strings.HasSuffix(q, ", `"+s.schema+"`.`"+s.ghost+"` to "+orig)
}

// renamedTo is the new name of the original table in gh-ost's rename statement.
func (s *binlogScan) renamedTo(q string) string {
	orig := "`" + s.schema + "`.`" + s.table + "`"
	rest := strings.TrimPrefix(q, "rename /* gh-ost */ table "+orig+" to ")
	end := strings.Index(rest, ", ")
	prefix := "`" + s.schema + "`.`"
	if end < 0 || !strings.HasPrefix(rest[:end], prefix) || !strings.HasSuffix(rest[:end], "`") {
		return ""
	}
	return strings.ReplaceAll(rest[len(prefix):end-1], "``", "`")
}

// hasMarker reports whether a changelog rows event writes the marker state (in an after image).
func hasMarker(e *replication.RowsEvent, typ replication.EventType) bool {
	for i, row := range e.Rows {
		if opOf(typ) == OpUpdate && i%2 == 0 {
			continue // before image
		}
		for _, v := range row {
			switch x := v.(type) {
			case string:
				if strings.Contains(x, markerState) {
					return true
				}
			case []byte:
				if bytes.Contains(x, []byte(markerState)) {
					return true
				}
			}
		}
	}
	return false
}

// opOf classifies a rows event type (MariaDB writes v1 and, with log_bin_compress, compressed ones).
func opOf(t replication.EventType) LostWriteOp {
	switch t {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2,
		replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1:
		return OpInsert
	case replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2,
		replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1:
		return OpUpdate
	case replication.DELETE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2,
		replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		return OpDelete
	}
	return ""
}

// rowsOf splits a rows event into one lostRow per row, copying the values: the decoder may alias
// strings and blobs into its read buffer.
func rowsOf(e *replication.RowsEvent, typ replication.EventType, at string) []lostRow {
	op := opOf(typ)
	if op == "" {
		return []lostRow{{op: OpUpdate, binlog: at, problem: fmt.Sprintf("unknown rows event type %s", typ)}}
	}
	step := 1
	if op == OpUpdate {
		step = 2
	}
	var out []lostRow
	for i := 0; i+step-1 < len(e.Rows); i += step {
		r := lostRow{op: op, binlog: at}
		img := cloneRow(e.Rows[i])
		switch op {
		case OpInsert:
			r.after = img
		case OpDelete:
			r.before = img
		case OpUpdate:
			r.before, r.after = img, cloneRow(e.Rows[i+1])
		}
		if incomplete(e, i, step) {
			r.problem = "the binlog row image is incomplete (binlog_row_image is not FULL)"
		}
		out = append(out, r)
	}
	return out
}

func incomplete(e *replication.RowsEvent, i, step int) bool {
	for j := i; j < i+step && j < len(e.SkippedColumns); j++ {
		if len(e.SkippedColumns[j]) > 0 {
			return true
		}
	}
	return false
}

func cloneRow(row []any) []any {
	out := make([]any, len(row))
	for i, v := range row {
		switch x := v.(type) {
		case string:
			out[i] = strings.Clone(x)
		case []byte:
			out[i] = bytes.Clone(x)
		default:
			out[i] = v
		}
	}
	return out
}

// readLostRows streams the primary's binlog from `from` to `to` (the end of the binlog when the
// audit began: gh-ost's rename is before it, since the cut-over had completed) and returns the
// rows events on the table after gh-ost's last marker and before its rename (lost), and those on
// the table after the rename (later).
func readLostRows(ctx context.Context, t auditTarget, from, to gomysql.Position) (lost, later []lostRow, err error) {
	scan := newBinlogScan(t.schema, t.table)
	if t.ghost != "" {
		scan.ghost = t.ghost
	}
	if err := streamBinlog(ctx, t, from, to, scan); err != nil {
		return nil, nil, err
	}
	switch {
	case !scan.sawMarker:
		return nil, nil, fmt.Errorf("gh-ost's %s marker for %s.%s not found in the binlog between %s and %s", markerState, t.schema, t.table, from, to)
	case !scan.renamed:
		return nil, nil, errors.New("gh-ost's cut-over rename not found in the binlog between " + from.String() + " and " + to.String())
	}
	return scan.pending, scan.later, nil
}

// readLaterRows returns the rows events on the (new) table between from and to, both after the
// rename.
func readLaterRows(ctx context.Context, t auditTarget, from, to gomysql.Position) ([]lostRow, error) {
	scan := newBinlogScan(t.schema, t.table)
	scan.sawMarker, scan.renamed = true, true
	if err := streamBinlog(ctx, t, from, to, scan); err != nil {
		return nil, err
	}
	return scan.later, nil
}

// streamBinlog feeds scan the primary's binlog events from `from` until `to`.
func streamBinlog(ctx context.Context, t auditTarget, from, to gomysql.Position, scan *binlogScan) error {
	if from.Compare(to) >= 0 {
		return nil
	}
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: t.serverID, Flavor: gomysql.MariaDBFlavor,
		Host: t.primary.Host, Port: uint16(t.primary.Port), User: t.primary.User, Password: t.primary.Password,
		// TIMESTAMP values as UTC strings; the repair session runs with time_zone '+00:00'.
		TimestampStringLocation: time.UTC,
		// Fail rather than reconnect forever: the audit has a deadline and reports a failure.
		DisableRetrySync: true,
		Logger:           slog.New(slog.DiscardHandler),
	})
	defer syncer.Close()
	stream, err := syncer.StartSync(from)
	if err != nil {
		return fmt.Errorf("read binlog from %s: %w", from, err)
	}
	cur := from
	for cur.Compare(to) < 0 {
		ev, err := stream.GetEvent(ctx)
		if err != nil {
			return fmt.Errorf("read binlog at %s (up to %s): %w", cur, to, err)
		}
		start := cur
		if ev.Header.LogPos >= ev.Header.EventSize {
			start.Pos = ev.Header.LogPos - ev.Header.EventSize
		}
		scan.handle(ev.Event, ev.Header.EventType, fmt.Sprintf("%s:%d", start.Name, start.Pos))
		cur = advance(cur, ev)
	}
	return nil
}

// advance moves the read position past ev. Rotate events (the fake one at the start, too) name
// the file; the start-up events the server sends (format description, checkpoints) carry their
// own, earlier, positions in the file and must not move the position back.
func advance(cur gomysql.Position, ev *replication.BinlogEvent) gomysql.Position {
	if r, ok := ev.Event.(*replication.RotateEvent); ok {
		return gomysql.Position{Name: string(r.NextLogName), Pos: uint32(r.Position)}
	}
	if ev.Header.LogPos > cur.Pos {
		cur.Pos = ev.Header.LogPos
	}
	return cur
}
