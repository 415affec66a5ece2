package cutover

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Blocker is one connection that stands in the way of the rename.
type Blocker struct {
	ConnID    int64         `json:"conn_id"`
	User      string        `json:"user"`
	Host      string        `json:"host"`
	DB        string        `json:"db,omitempty"`
	Command   string        `json:"command"` // "Sleep": idle inside an open transaction
	State     string        `json:"state,omitempty"`
	Statement string        `json:"statement,omitempty"`
	Age       time.Duration `json:"age_ns"` // transaction age, or time in the current state
}

// String names the connection for the checklist.
func (b Blocker) String() string {
	s := fmt.Sprintf("conn %d (%s@%s", b.ConnID, b.User, b.Host)
	if b.DB != "" {
		s += " db " + b.DB
	}
	s += fmt.Sprintf(", %s, %s", b.Command, b.Age.Round(100*time.Millisecond))
	if b.Statement != "" {
		st := strings.Join(strings.Fields(b.Statement), " ")
		if len(st) > 80 {
			st = st[:77] + "..."
		}
		s += ": " + st
	}
	return s + ")"
}

func describe(bs []Blocker) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = b.String()
	}
	return strings.Join(parts, "; ")
}

const blockerColumns = `p.ID, COALESCE(p.USER, ''), COALESCE(p.HOST, ''), COALESCE(p.DB, ''),
	COALESCE(p.COMMAND, ''), COALESCE(p.STATE, ''), COALESCE(p.INFO, '')`

// hasMDLPlugin reports whether MariaDB's METADATA_LOCK_INFO plugin is active. The gate only
// reads it when the DBA installed it; it never installs plugins.
func hasMDLPlugin(ctx context.Context, db *sql.DB) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.PLUGINS
		WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'`).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("cutover: look for the metadata_lock_info plugin: %w", err)
	}
	return n > 0, nil
}

// oldTransactions lists transactions older than minAge. With the plugin only those that hold a
// metadata lock on the table or its ghost are listed; without it every one is a suspect, because
// a transaction that merely read the table holds its metadata lock until it ends and nothing but
// the plugin can tell which tables those are.
func oldTransactions(ctx context.Context, db *sql.DB, schema string, tables []string, minAge time.Duration, plugin bool) ([]Blocker, error) {
	if plugin {
		return queryBlockers(ctx, db, `SELECT DISTINCT `+blockerColumns+`,
			COALESCE(TIMESTAMPDIFF(MICROSECOND, t.trx_started, NOW(6)), p.TIME * 1000000) AS age
			FROM information_schema.METADATA_LOCK_INFO m
			JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID
			LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = m.THREAD_ID
			WHERE m.TABLE_SCHEMA = ? AND m.TABLE_NAME IN (?, ?) AND p.ID <> CONNECTION_ID()
			HAVING age >= ?
			ORDER BY age DESC`, schema, tables[0], tables[1], minAge.Microseconds())
	}
	return queryBlockers(ctx, db, `SELECT `+blockerColumns+`,
		TIMESTAMPDIFF(MICROSECOND, t.trx_started, NOW(6))
		FROM information_schema.INNODB_TRX t
		JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
		WHERE p.ID <> CONNECTION_ID() AND t.trx_started <= NOW(6) - INTERVAL ? MICROSECOND
		ORDER BY t.trx_started`, minAge.Microseconds())
}

// mdlWaiters lists connections waiting for a metadata lock. A waiter is queued behind a holder;
// the rename would queue behind both, and every later query on the table behind the rename.
func mdlWaiters(ctx context.Context, db *sql.DB) ([]Blocker, error) {
	return queryBlockers(ctx, db, `SELECT `+blockerColumns+`, p.TIME_MS * 1000
		FROM information_schema.PROCESSLIST p
		WHERE p.STATE = 'Waiting for table metadata lock' AND p.ID <> CONNECTION_ID()
		ORDER BY p.TIME_MS DESC`)
}

func queryBlockers(ctx context.Context, db *sql.DB, q string, args ...any) ([]Blocker, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("cutover: list blockers: %w", err)
	}
	defer rows.Close()
	var out []Blocker
	for rows.Next() {
		var b Blocker
		var ageUS sql.NullFloat64
		if err := rows.Scan(&b.ConnID, &b.User, &b.Host, &b.DB, &b.Command, &b.State, &b.Statement, &ageUS); err != nil {
			return nil, fmt.Errorf("cutover: list blockers: %w", err)
		}
		b.Age = time.Duration(ageUS.Float64) * time.Microsecond
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cutover: list blockers: %w", err)
	}
	return out, nil
}

// transactionsLine turns old transactions into a checklist line.
func transactionsLine(bs []Blocker, err error, limit time.Duration, plugin bool) Line {
	l := Line{Name: LineTransactions, Limit: fmt.Sprintf("none older than %s", limit)}
	scope := "on the server (without the METADATA_LOCK_INFO plugin the server cannot tell which tables a transaction holds, so every one counts)"
	if plugin {
		scope = "holding a metadata lock on the table"
	}
	switch {
	case err != nil:
		l.Value, l.Detail = "unknown", err.Error()
	case len(bs) == 0:
		l.OK, l.Value = true, "0"
	default:
		l.Value = fmt.Sprintf("%d", len(bs))
		l.Detail = fmt.Sprintf("%d transaction(s) %s: %s", len(bs), scope, describe(bs))
	}
	return l
}

func waitersLine(bs []Blocker, err error) Line {
	l := Line{Name: LineMDLWaiters, Limit: "0"}
	switch {
	case err != nil:
		l.Value, l.Detail = "unknown", err.Error()
	case len(bs) == 0:
		l.OK, l.Value = true, "0"
	default:
		l.Value = fmt.Sprintf("%d", len(bs))
		l.Detail = "waiting for a metadata lock: " + describe(bs)
	}
	return l
}
