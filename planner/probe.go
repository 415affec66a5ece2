package planner

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// ProbePrefix starts the name of every probe clone: `_gg_probe_<16 hex>`. A leftover clone (there
// should never be one) is recognisable by it.
const ProbePrefix = "_gg_probe_"

// cleanupTimeout bounds the DROP of a clone. It runs on a fresh context so that a cancelled
// context (Ctrl-C) still drops the clone.
const cleanupTimeout = 10 * time.Second

// probeStepTimeout bounds the whole probe's statements (clone and ALTERs on an empty table).
const probeStepTimeout = 30 * time.Second

// Server error numbers the probe reads as "this algorithm is not supported" (MySQL and MariaDB):
// ER_ALTER_OPERATION_NOT_SUPPORTED and ER_ALTER_OPERATION_NOT_SUPPORTED_REASON. MySQL 8.0 answers
// ALGORITHM=INSTANT with a LOCK clause by ER_WRONG_USAGE (1221), so INSTANT goes without LOCK there.
const (
	erAlterNotSupported       = 1845
	erAlterNotSupportedReason = 1846
)

// serverProbe is the real Capability: it clones the table (CREATE TABLE … LIKE, empty, same
// definition) under a private name in the same schema, runs the ALTER there with each algorithm
// until one is accepted, and always drops the clone.
type serverProbe struct {
	db      *sql.DB
	srv     Server
	onClone func() // test hook: called once the clone exists
}

func (s *serverProbe) probe(ctx context.Context, schema, tbl, clauses string, algs []Algorithm) (_ []ProbeAnswer, err error) {
	clone, err := probeName()
	if err != nil {
		return nil, err
	}
	// One pinned connection with a short lock_wait_timeout: CREATE … LIKE waits for a metadata lock
	// on the source table, and a long transaction must make the probe fail fast, not hang.
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("planner: probe: %w", err)
	}
	defer conn.Close()
	// Statements run on a context the caller cannot cancel mid-statement (each takes milliseconds
	// on the empty clone); the caller's ctx is checked between them. A statement abandoned by a
	// cancelled context may still complete on the server after our DROP, leaving a clone behind.
	stepCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeStepTimeout)
	defer cancel()
	if _, err := conn.ExecContext(stepCtx, "SET SESSION lock_wait_timeout = 5"); err != nil {
		return nil, fmt.Errorf("planner: probe: %w", err)
	}
	target := quoteTable(schema, clone)
	defer func() {
		if dropErr := dropClone(s.db, target); dropErr != nil {
			err = errors.Join(err, dropErr)
		}
	}()
	if _, err := conn.ExecContext(stepCtx, "CREATE TABLE "+target+" LIKE "+quoteTable(schema, tbl)); err != nil {
		return nil, fmt.Errorf("planner: probe: clone %s: %w", qualified(schema, tbl), err)
	}
	if s.onClone != nil {
		s.onClone()
	}
	var answers []ProbeAnswer
	for _, alg := range algs {
		if err := ctx.Err(); err != nil {
			return answers, fmt.Errorf("planner: probe %s: %w", qualified(schema, tbl), err)
		}
		stmt := "ALTER TABLE " + target + " " + clauses + ", " + algorithmClause(s.srv, alg)
		_, err := conn.ExecContext(stepCtx, stmt)
		if err == nil {
			return append(answers, ProbeAnswer{Algorithm: alg, Accepted: true}), nil
		}
		var me *mysql.MySQLError
		if !errors.As(err, &me) {
			return answers, fmt.Errorf("planner: probe %s: %w", qualified(schema, tbl), err)
		}
		if me.Number != erAlterNotSupported && me.Number != erAlterNotSupportedReason {
			msg := strings.ReplaceAll(me.Message, clone, tbl) // name the real table, not the clone
			return answers, &ServerRejectedError{Schema: schema, Table: tbl, Code: me.Number, Message: msg}
		}
		answers = append(answers, ProbeAnswer{Algorithm: alg, ErrorCode: me.Number, Reason: me.Message})
	}
	return answers, nil
}

// dropClone drops the clone on a fresh context with its own timeout, so that it also runs when the
// caller's context is already cancelled.
func dropClone(db *sql.DB, target string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+target); err != nil {
		return fmt.Errorf("planner: drop probe clone %s: %w", target, err)
	}
	return nil
}

func probeName() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("planner: probe name: %w", err)
	}
	return ProbePrefix + hex.EncodeToString(b), nil
}

// algorithmClause is the ALGORITHM/LOCK suffix for alg on srv. Every algorithm asks for LOCK=NONE
// so that the server refuses rather than silently taking a lock; MySQL 8.0 refuses any LOCK
// clause with INSTANT (error 1221), and INSTANT never locks anyway.
func algorithmClause(srv Server, alg Algorithm) string {
	a := "ALGORITHM=" + strings.ToUpper(string(alg))
	if alg == AlgorithmInstant && srv.Flavor == MySQL {
		return a
	}
	return a + ", LOCK=NONE"
}

// probeAlgorithm is the cheapest accepted algorithm, AlgorithmCopy when none was.
func probeAlgorithm(answers []ProbeAnswer) Algorithm {
	for _, a := range answers {
		if a.Accepted {
			return a.Algorithm
		}
	}
	return AlgorithmCopy
}
