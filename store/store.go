// Package store keeps the state of ghostgate's migrations in the server being migrated, in a small
// versioned schema of ghostgate's own (database `_ghostgate` by default). Keeping it there means no
// extra server is needed and a restarted controller, the TUI and the API all read the same truth.
//
// Every migration is one row; every status change goes through Transition, which checks the
// lifecycle (migration.CheckTransition) under a row lock and writes an event in the same
// transaction, so a transition is on disk before anyone acts on it. The database itself enforces
// at most one active migration per table. Leftovers of dead runs (stale owners, orphan gh-ost
// tables) are detected and reported with the command that cleans them; the store never drops
// anything unless a user-invoked Cleanup asks it to.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// DefaultDatabase is the schema ghostgate keeps its state in unless Options.Database says otherwise.
const DefaultDatabase = "_ghostgate"

// DefaultStaleAfter is how long an owner may go without a heartbeat before its migration counts
// as interrupted: the lease duration. Controllers heartbeat every 2 s; 30 s tolerates a long GC
// or a slow server without declaring a live run dead.
const DefaultStaleAfter = 30 * time.Second

// Owner identifies the controller process that runs a migration.
type Owner struct {
	Host string `json:"host"`
	PID  int    `json:"pid"`
}

// String renders the owner as host:pid.
func (o Owner) String() string { return fmt.Sprintf("%s:%d", o.Host, o.PID) }

// CurrentOwner is this process: its host name and pid.
func CurrentOwner() Owner {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return Owner{Host: host, PID: os.Getpid()}
}

// Options configures a Store. The zero value is valid: every field has a default.
type Options struct {
	// Database is the schema holding the state tables (created on first use). Default "_ghostgate".
	Database string
	// Owner is recorded on the migrations this store creates. Default: CurrentOwner(). A pid is
	// only checked when the owner's host equals this one, so containers that share a host name
	// but not a pid namespace should set a unique Host (e.g. the pod name).
	Owner Owner
	// StaleAfter is the lease duration: a claim this store makes (Create, TakeOver) or renews
	// (Heartbeat) lasts this long; once it has passed without a renewal, the migration counts as
	// a leftover another controller may take over. Rows from before leases use the heartbeat's
	// age instead.
	StaleAfter time.Duration
	// LockTimeout bounds the wait for the schema-upgrade lock another process may hold.
	LockTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Database == "" {
		o.Database = DefaultDatabase
	}
	if o.Owner == (Owner{}) {
		o.Owner = CurrentOwner()
	}
	if o.StaleAfter == 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = 30 * time.Second
	}
	return o
}

// Validate reports the first invalid field (after defaults are applied).
func (o Options) Validate() error {
	o = o.withDefaults()
	switch {
	case len(o.Database) > 64:
		return fmt.Errorf("store: database name %q is longer than 64 characters", o.Database)
	case strings.ContainsRune(o.Database, 0) || strings.HasSuffix(o.Database, " "):
		return fmt.Errorf("store: database name %q is not a valid identifier", o.Database)
	case o.Owner.Host == "" || o.Owner.PID <= 0:
		return fmt.Errorf("store: owner %v needs a host and a positive pid", o.Owner)
	case o.StaleAfter < 0:
		return fmt.Errorf("store: StaleAfter %v must be positive", o.StaleAfter)
	case o.LockTimeout < time.Second:
		return fmt.Errorf("store: LockTimeout %v must be at least 1s (GET_LOCK counts whole seconds)", o.LockTimeout)
	}
	return nil
}

// Sentinel errors callers branch on.
var (
	// ErrNotFound means no migration has the given id.
	ErrNotFound = errors.New("store: migration not found")
	// ErrNotActive means the migration already reached an end state.
	ErrNotActive = errors.New("store: migration is not active")
	// ErrNotOwner means another controller owns the migration.
	ErrNotOwner = errors.New("store: migration is owned by another controller")
	// ErrLeftoverGone means a leftover passed to Cleanup no longer exists as reported.
	ErrLeftoverGone = errors.New("store: leftover no longer present")
)

// Store reads and writes migration state. It is safe for concurrent use.
type Store struct {
	db   *sql.DB
	opts Options

	migrations string // escaped `db`.`migrations`
	events     string // escaped `db`.`events`
	versions   string // escaped `db`.`schema_version`
	commands   string // escaped `db`.`commands`

	participants string // escaped `db`.`participants`
	phases       string // escaped `db`.`participant_phases`

	mu   sync.Mutex
	held map[string]int64 // fencing token of each claim this store made, by migration id
}

// Open returns a Store over db (a pool on the server being migrated), creating or upgrading the
// state schema first. Two processes may Open at once: upgrades are serialized by a named lock.
func Open(ctx context.Context, db *sql.DB, opts Options) (*Store, error) {
	return openAt(ctx, db, opts, len(schemaSteps))
}

// openAt opens the store upgrading the schema only up to version target; tests use it to build a
// store at an older version and prove the upgrade path.
func openAt(ctx context.Context, db *sql.DB, opts Options, target int) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	s := &Store{
		db:         db,
		opts:       opts,
		migrations: qualify(opts.Database, "migrations"),
		events:     qualify(opts.Database, "events"),
		versions:   qualify(opts.Database, "schema_version"),
		commands:   qualify(opts.Database, "commands"),

		participants: qualify(opts.Database, "participants"),
		phases:       qualify(opts.Database, "participant_phases"),
		held:         map[string]int64{},
	}
	if err := s.upgrade(ctx, target); err != nil {
		return nil, err
	}
	return s, nil
}

// Database is the schema this store keeps its tables in.
func (s *Store) Database() string { return s.opts.Database }

// Owner is the controller identity recorded on migrations this store creates.
func (s *Store) Owner() Owner { return s.opts.Owner }

// quoteIdent escapes a MySQL identifier: backticks around, inner backticks doubled.
func quoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// qualify escapes schema.table.
func qualify(schema, table string) string {
	return quoteIdent(schema) + "." + quoteIdent(table)
}
