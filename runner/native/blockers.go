package native

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// BlockerKind says how a connection stands in the ALTER's way.
type BlockerKind string

// Blocker kinds.
const (
	// BlockerTransaction is an open transaction older than Config.MinTrxAge. Without the
	// METADATA_LOCK_INFO plugin the server cannot say which tables a transaction holds, so every
	// such transaction is a suspect.
	BlockerTransaction BlockerKind = "transaction"
	// BlockerLockHolder holds a metadata lock on the table (METADATA_LOCK_INFO plugin).
	BlockerLockHolder BlockerKind = "mdl_holder"
	// BlockerLockWaiter waits for a metadata lock: queued behind the holder (or behind us).
	BlockerLockWaiter BlockerKind = "mdl_waiter"
)

// Blocker is one connection that holds up the ALTER, as the DBA needs to see it.
type Blocker struct {
	Kind      BlockerKind   `json:"kind"`
	ConnID    int64         `json:"conn_id"`
	User      string        `json:"user"`
	Host      string        `json:"host"`
	DB        string        `json:"db,omitempty"`
	Command   string        `json:"command"`         // e.g. "Sleep": idle inside an open transaction
	State     string        `json:"state,omitempty"` // e.g. "Waiting for table metadata lock"
	Statement string        `json:"statement,omitempty"`
	Age       time.Duration `json:"age_ns"`              // transaction age, or time in the current state
	LockMode  string        `json:"lock_mode,omitempty"` // MDL mode, plugin only
}

// String is a one-line description for messages and logs.
func (b Blocker) String() string {
	s := fmt.Sprintf("%s conn %d (%s@%s, %s %v", b.Kind, b.ConnID, b.User, b.Host, b.Command, b.Age.Round(time.Second))
	if b.Statement != "" {
		s += ", running " + abbreviate(b.Statement)
	}
	return s + ")"
}

// describeBlockers is a one-line summary for progress messages.
func describeBlockers(bs []Blocker) string {
	if len(bs) == 0 {
		return "no blocker identified"
	}
	parts := make([]string, 0, len(bs))
	for _, b := range bs {
		parts = append(parts, b.String())
	}
	return "blocked by " + strings.Join(parts, "; ")
}

// mergeBlockers adds the ones not yet seen (by kind and connection) to seen.
func mergeBlockers(seen, more []Blocker) []Blocker {
	for _, b := range more {
		dup := false
		for i, s := range seen {
			if s.Kind == b.Kind && s.ConnID == b.ConnID {
				seen[i] = b // keep the latest view (age, statement)
				dup = true
				break
			}
		}
		if !dup {
			seen = append(seen, b)
		}
	}
	return seen
}

// hasMDLPlugin reports whether MariaDB's METADATA_LOCK_INFO plugin is active. It is used only
// when the DBA installed it; the engine never installs plugins.
func hasMDLPlugin(ctx context.Context, db *sql.DB) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.PLUGINS
		WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'`).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("native: look for the metadata_lock_info plugin: %w", err)
	}
	return n > 0, nil
}

const blockerColumns = `p.ID, COALESCE(p.USER, ''), COALESCE(p.HOST, ''), COALESCE(p.DB, ''), COALESCE(p.COMMAND, ''),
	COALESCE(p.STATE, ''), COALESCE(p.INFO, '')`

// findBlockers lists who stands in the way of conn self's ALTER on schema.table.
func findBlockers(ctx context.Context, db *sql.DB, schema, table string, self int64, plugin bool, minTrxAge time.Duration) ([]Blocker, error) {
	var out []Blocker
	var err error
	if plugin {
		out, err = queryBlockers(ctx, db, BlockerLockHolder, `SELECT `+blockerColumns+`,
			COALESCE(TIMESTAMPDIFF(MICROSECOND, t.trx_started, NOW(6)), p.TIME * 1000000), m.LOCK_MODE
			FROM information_schema.METADATA_LOCK_INFO m
			JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID
			LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = m.THREAD_ID
			WHERE m.TABLE_SCHEMA = ? AND m.TABLE_NAME = ? AND m.THREAD_ID <> ?
			ORDER BY 8 DESC`, schema, table, self)
	} else {
		out, err = queryBlockers(ctx, db, BlockerTransaction, `SELECT `+blockerColumns+`,
			TIMESTAMPDIFF(MICROSECOND, t.trx_started, NOW(6)), ''
			FROM information_schema.INNODB_TRX t
			JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
			WHERE p.ID <> ? AND t.trx_started <= NOW(6) - INTERVAL ? MICROSECOND
			ORDER BY t.trx_started`, self, minTrxAge.Microseconds())
	}
	if err != nil {
		return nil, err
	}
	waiters, err := queryBlockers(ctx, db, BlockerLockWaiter, `SELECT `+blockerColumns+`, p.TIME * 1000000, ''
		FROM information_schema.PROCESSLIST p
		WHERE p.STATE = 'Waiting for table metadata lock' AND p.ID <> ?
		ORDER BY p.TIME DESC`, self)
	if err != nil {
		return nil, err
	}
	return append(out, waiters...), nil
}

func queryBlockers(ctx context.Context, db *sql.DB, kind BlockerKind, q string, args ...any) ([]Blocker, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("native: list %s blockers: %w", kind, err)
	}
	defer rows.Close()
	var out []Blocker
	for rows.Next() {
		b := Blocker{Kind: kind}
		var ageUS sql.NullFloat64
		if err := rows.Scan(&b.ConnID, &b.User, &b.Host, &b.DB, &b.Command, &b.State, &b.Statement, &ageUS, &b.LockMode); err != nil {
			return nil, fmt.Errorf("native: list %s blockers: %w", kind, err)
		}
		b.Age = time.Duration(ageUS.Float64) * time.Microsecond
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("native: list %s blockers: %w", kind, err)
	}
	return out, nil
}
