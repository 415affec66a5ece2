package cutover

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// The exact comparison of one chunk (issue 10: under sustained writes the old checksum compared
// a chunk as soon as the engine's backlog was small, which is not "applied", and reported chunks
// as mismatching that ended equal).
//
//  1. In one REPEATABLE READ transaction on the primary, read the original's chunk with LOCK IN
//     SHARE MODE: every row of the range is share-locked and, through InnoDB's next-key locks,
//     so are the gaps between them, so no write to the range (update, delete, insert, or an
//     update moving a key into it) can commit until the transaction ends.
//  2. Still inside it, read the primary's binlog position P (SHOW MASTER STATUS). Every write
//     to the range that committed before the locks were granted is in the binlog before P: with
//     the binlog on, a transaction is written to the binlog before InnoDB commits it and releases
//     its locks (two-phase commit). So the chunk as read is the range's state at P.
//  3. Wait (Deps.AwaitApplied, at most ApplyTimeout) until the engine has applied the binlog
//     through P to the ghost table, then read the ghost's chunk (a plain read: the latest
//     committed rows).
//
// A first look ends the transaction right after step 2, so writers wait for one chunk read at
// most; a match then holds (every row the ghost has beyond P was rewritten from a full row image,
// which gh-ost applies as REPLACE/UPDATE of every column), while a difference may be a write
// after P. A strict look holds the locks through step 3: nothing can be written to the range
// after P, so the ghost's chunk is the range at P too, and a difference is real. Writers to that
// one range wait meanwhile, at most ApplyTimeout plus a chunk read.

// lockWaitSeconds is the checksum's innodb_lock_wait_timeout: a chunk whose rows a writer holds
// longer is compared again later, rather than queueing writers behind the checksum's own wait.
const lockWaitSeconds = 1

// undecidedError is a comparison that could not finish: the rows were locked by a writer, or
// the engine had not applied the binlog in time. The chunk is compared again later.
type undecidedError struct{ reason string }

func (e *undecidedError) Error() string { return "cutover: checksum: " + e.reason }

// MySQL errors that make a comparison undecided rather than failed.
const (
	erLockWaitTimeout = 1205
	erLockDeadlock    = 1213
)

func undecided(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) && (me.Number == erLockWaitTimeout || me.Number == erLockDeadlock) {
		return &undecidedError{reason: fmt.Sprintf("rows locked by a writer for over %ds (%s)", lockWaitSeconds, me.Message)}
	}
	return err
}

// lockedRead runs read on the original table's chunk under share locks, reads the primary's
// binlog position, and then (after ending the transaction when !strict) waits until the engine
// has applied the binlog through it and runs ghostRead. See the comment above.
func (c *checksummer) lockedRead(ctx context.Context, strict bool, read func(*sql.Conn) error, ghostRead func() error) error {
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("cutover: checksum: %w", err)
	}
	defer conn.Close()
	restore, err := setLockWait(ctx, conn)
	if err != nil {
		return err
	}
	defer restore()
	// SET TRANSACTION (not SESSION) applies to the next transaction only: the pooled connection
	// keeps its own isolation level afterwards.
	for _, q := range []string{"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("cutover: checksum: %w", err)
		}
	}
	open := true
	end := func() {
		if open {
			open = false
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}
	defer end()
	if err := read(conn); err != nil {
		if u := undecided(err); u != err {
			return u
		}
		return fmt.Errorf("cutover: checksum %s: %w", c.table, err)
	}
	file, pos, err := binlogPosition(ctx, conn)
	if err != nil {
		return err
	}
	if !strict {
		end()
	}
	wctx, cancel := context.WithTimeout(ctx, c.cfg.ApplyTimeout)
	err = c.awaitApplied(wctx, file, pos)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &undecidedError{reason: fmt.Sprintf("the engine had not applied the binlog through %s:%d within %s: %v", file, pos, c.cfg.ApplyTimeout, err)}
	}
	return ghostRead()
}

// setLockWait sets the session's innodb_lock_wait_timeout to lockWaitSeconds and returns what
// puts the old value back; a connection whose value cannot be restored is discarded, never
// returned to the pool with the checksum's setting.
func setLockWait(ctx context.Context, conn *sql.Conn) (func(), error) {
	var prev int64
	if err := conn.QueryRowContext(ctx, "SELECT @@SESSION.innodb_lock_wait_timeout").Scan(&prev); err != nil {
		return nil, fmt.Errorf("cutover: checksum: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = "+strconv.Itoa(lockWaitSeconds)); err != nil {
		return nil, fmt.Errorf("cutover: checksum: %w", err)
	}
	return func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "SET SESSION innodb_lock_wait_timeout = "+strconv.FormatInt(prev, 10)); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}, nil
}

// binlogPosition is the primary's binlog end now (SHOW MASTER STATUS; MySQL 8.4 only knows SHOW
// BINARY LOG STATUS).
func binlogPosition(ctx context.Context, conn *sql.Conn) (string, uint64, error) {
	rows, err := conn.QueryContext(ctx, "SHOW MASTER STATUS")
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1064 { // syntax error: a server without the old term
		rows, err = conn.QueryContext(ctx, "SHOW BINARY LOG STATUS")
	}
	if err != nil {
		return "", 0, fmt.Errorf("cutover: checksum: binlog position: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", 0, fmt.Errorf("cutover: checksum: binlog position: %w", err)
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return "", 0, fmt.Errorf("cutover: checksum: binlog position: %w", err)
		}
		return "", 0, errors.New("cutover: checksum: the primary has no binary log (log_bin is off); the comparison needs its position")
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", 0, fmt.Errorf("cutover: checksum: binlog position: %w", err)
	}
	var file, pos string
	for i, name := range cols {
		switch strings.ToLower(name) {
		case "file":
			file = vals[i].String
		case "position":
			pos = vals[i].String
		}
	}
	p, err := strconv.ParseUint(pos, 10, 64)
	if file == "" || err != nil {
		return "", 0, fmt.Errorf("cutover: checksum: binlog position: unreadable (file %q, position %q)", file, pos)
	}
	return file, p, rows.Err()
}

// compare checksums one chunk of both tables at the binlog position of the original's read; see
// the protocol above.
func (c *checksummer) compare(ctx context.Context, k keyBounds, strict bool) (a, b chunkSum, err error) {
	where, args := rangeWhere(c.key, k.lo, k.hi)
	err = c.lockedRead(ctx, strict, func(conn *sql.Conn) error {
		return conn.QueryRowContext(ctx, chunkChecksumSQL(c.schema, c.table, c.cols, where)+" LOCK IN SHARE MODE", args...).
			Scan(&a.rows, &a.h1, &a.h2)
	}, func() error {
		err := c.db.QueryRowContext(ctx, chunkChecksumSQL(c.schema, c.ghost, c.cols, where), args...).Scan(&b.rows, &b.h1, &b.h2)
		if err != nil {
			return fmt.Errorf("cutover: checksum %s: %w", c.ghost, err)
		}
		return nil
	})
	return a, b, err
}

// chunkRows is one table's chunk row by row: the key as text → one hash per compared column.
type chunkRows struct {
	keys   [][]string
	hashes map[string][]string
}

func (c *checksummer) scanRows(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, table, where string, args []any, lock string) (chunkRows, error) {
	out := chunkRows{hashes: map[string][]string{}}
	rows, err := q.QueryContext(ctx, chunkRowsSQL(c.schema, table, c.keyCols, c.cols, where)+lock, args...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	n := len(c.keyCols) + len(c.cols)
	for rows.Next() {
		vals := make([]sql.NullString, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return out, err
		}
		key := make([]string, len(c.keyCols))
		for i := range key {
			key[i] = vals[i].String
		}
		hs := make([]string, len(c.cols))
		for i := range hs {
			hs[i] = vals[len(key)+i].String
		}
		out.keys = append(out.keys, key)
		out.hashes[strings.Join(key, "\x00")] = hs
	}
	return out, rows.Err()
}

// rowDiff compares a chunk strictly, row by row, and returns the mismatch with its first
// differing row; nil when the rows are equal.
func (c *checksummer) rowDiff(ctx context.Context, k keyBounds) (*Mismatch, error) {
	where, args := rangeWhere(c.key, k.lo, k.hi)
	var orig, gho chunkRows
	err := c.lockedRead(ctx, true, func(conn *sql.Conn) error {
		var err error
		orig, err = c.scanRows(ctx, conn, c.table, where, args, " LOCK IN SHARE MODE")
		return err
	}, func() error {
		var err error
		gho, err = c.scanRows(ctx, c.db, c.ghost, where, args, "")
		if err != nil {
			return fmt.Errorf("cutover: checksum %s: %w", c.ghost, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	m := &Mismatch{Range: k.keyRange(c.key), OrigRows: int64(len(orig.keys)), GhostRows: int64(len(gho.keys))}
	for _, key := range orig.keys {
		id := strings.Join(key, "\x00")
		g, ok := gho.hashes[id]
		if !ok {
			m.Row = RowDiff{Key: key, Missing: true}
			return m, nil
		}
		var differ []string
		for i, h := range orig.hashes[id] {
			if g[i] != h {
				differ = append(differ, c.cols[i].name)
			}
		}
		if len(differ) > 0 {
			m.Row = RowDiff{Key: key, Columns: differ}
			return m, nil
		}
	}
	for _, key := range gho.keys {
		if _, ok := orig.hashes[strings.Join(key, "\x00")]; !ok {
			m.Row = RowDiff{Key: key, Extra: true}
			return m, nil
		}
	}
	return nil, nil
}
