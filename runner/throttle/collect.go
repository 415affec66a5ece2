package throttle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Replica is one replica the throttler watches.
type Replica struct {
	Name string  // shown in reasons, e.g. "127.0.0.1:13307"
	DB   *sql.DB // a pool connected to the replica
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func heartbeatTable(schema string) string { return quoteIdent(schema) + "." + quoteIdent("heartbeat") }

// ensureHeartbeat creates the heartbeat table on the primary. The row carries the writer's own
// clock (unix microseconds) besides NOW(6): the lag is computed from the throttler's clock at
// both ends, so clock skew between the primary, the replicas and the controller's host cannot
// fake or hide lag (gh-ost does the same with its changelog heartbeat).
func ensureHeartbeat(ctx context.Context, db *sql.DB, schema string) error {
	stmts := []string{
		"CREATE DATABASE IF NOT EXISTS " + quoteIdent(schema),
		"CREATE TABLE IF NOT EXISTS " + heartbeatTable(schema) + ` (
			writer_id VARCHAR(191) NOT NULL PRIMARY KEY,
			ts DATETIME(6) NOT NULL,
			writer_us BIGINT NOT NULL
		) ENGINE=InnoDB`,
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("throttle: create heartbeat table: %w", err)
		}
	}
	return nil
}

func writeHeartbeat(ctx context.Context, db *sql.DB, schema, writer string, now time.Time) error {
	_, err := db.ExecContext(ctx, "INSERT INTO "+heartbeatTable(schema)+
		" (writer_id, ts, writer_us) VALUES (?, NOW(6), ?) ON DUPLICATE KEY UPDATE ts = NOW(6), writer_us = VALUES(writer_us)",
		writer, now.UnixMicro())
	return err
}

func deleteHeartbeat(ctx context.Context, db *sql.DB, schema, writer string) error {
	_, err := db.ExecContext(ctx, "DELETE FROM "+heartbeatTable(schema)+" WHERE writer_id = ?", writer)
	return err
}

// readLoad reads the given global status variables (upper case) from the primary.
// information_schema.GLOBAL_STATUS works with performance_schema off, and unlike SHOW STATUS it
// takes bound values.
func readLoad(ctx context.Context, db *sql.DB, vars []string) (map[string]float64, error) {
	args := make([]any, len(vars))
	for i, v := range vars {
		args[i] = v
	}
	q := "SELECT UPPER(VARIABLE_NAME), VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE UPPER(VARIABLE_NAME) IN (?" +
		strings.Repeat(", ?", len(vars)-1) + ")"
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]float64, len(vars))
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("status %s=%q is not a number", name, value)
		}
		out[name] = f
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, v := range vars {
		if _, ok := out[v]; !ok {
			return nil, fmt.Errorf("unknown status variable %s", v)
		}
	}
	return out, nil
}

// readReplica reads one replica's replication threads and our heartbeat row.
func readReplica(ctx context.Context, r Replica, schema, writer string, now func() time.Time) replicaReading {
	rd := replicaReading{name: r.Name, behind: -1}
	st, err := slaveStatus(ctx, r.DB)
	rd.at = now()
	if err != nil {
		rd.err = err
		return rd
	}
	io, sqlT := st["Slave_IO_Running"], st["Slave_SQL_Running"]
	rd.replicating = io == "Yes" && sqlT == "Yes"
	switch {
	case st == nil:
		rd.status = "not configured as a replica"
	case rd.replicating:
		if b, err := strconv.ParseInt(st["Seconds_Behind_Master"], 10, 64); err == nil {
			rd.behind = b
		}
	default:
		rd.status = fmt.Sprintf("IO=%s SQL=%s", io, sqlT)
		if e := st["Last_SQL_Error"] + st["Last_IO_Error"]; e != "" {
			rd.status += ": " + e
		}
	}
	var writerUS int64
	err = r.DB.QueryRowContext(ctx, "SELECT writer_us FROM "+heartbeatTable(schema)+" WHERE writer_id = ?", writer).Scan(&writerUS)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// Not replicated yet (or the table itself not yet): unknown lag, which throttles.
	case err != nil && isMissingTable(err):
	case err != nil:
		rd.err = err
	default:
		rd.heartbeat = true
		rd.lag = max(now().Sub(time.UnixMicro(writerUS)), 0)
	}
	return rd
}

// isMissingTable matches 1146 ER_NO_SUCH_TABLE and 1049 ER_BAD_DB_ERROR: the CREATE of the
// heartbeat table has not reached the replica yet.
func isMissingTable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1146 || me.Number == 1049)
}

// slaveStatus returns SHOW SLAVE STATUS as column → value; nil when the server is no replica.
// Columns are read by name because their number differs between versions and flavors.
func slaveStatus(ctx context.Context, db *sql.DB) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, rows.Err()
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(cols))
	for i, c := range cols {
		out[c] = vals[i].String
	}
	return out, rows.Err()
}

// checkHTTP GETs url and returns the status code.
func checkHTTP(ctx context.Context, client *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	return resp.StatusCode, nil
}
