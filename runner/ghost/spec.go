// Package ghost is ghostgate's gh-ost engine: it runs github.com/github/gh-ost v1.1.10 as a library
// inside a worker child process of the controller's own binary, steers it (throttle, chunk size,
// cut-over permits, abort), turns its state into migration.Progress events, and cleans up after it.
//
// Why still a child process: gh-ost keeps process-wide state (a DB cache, the logger's level,
// logic.RetrySleepFn), prints status to stdout every second, and a crash or a kill must not take
// the controller with it. Abort is a kill of the worker's process group.
//
// The cut-over is decided in the worker's process, by a gh-ost hook that waits for the
// controller's permit (gate.go), never by a file another process could delete.
//
// gh-ost reads the binlog through a relay in the worker that drops the row events of the tables
// it does not follow (binlogfilter.go): most of a copy's binlog is gh-ost's own ghost inserts,
// which it would otherwise decode row by row.
//
// The controller binary must call MaybeRunWorker first thing in main (and tests in TestMain): when
// the process was started as a worker it runs the migration and exits.
package ghost

import (
	"errors"
	"fmt"
	"github.com/go-sql-driver/mysql"
	"hash/fnv"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/github/gh-ost/go/base"

	"github.com/ghostgate/ghostgate/migration"
)

// Endpoint is one MySQL/MariaDB server and the account used on it.
type Endpoint struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	User     string `json:"user"`
	Password string `json:"password"`
}

// Addr is host:port.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// dsn is a go-sql-driver DSN for the controller's own connections (never the worker's). The
// driver formats it, so a password with '@', '/' or '?' in it survives.
func (e Endpoint) dsn(schema string) string {
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = e.User, e.Password, "tcp", e.Addr(), schema
	c.ParseTime, c.InterpolateParams = true, true
	return c.FormatDSN()
}

// Defaults the gh-ost binary's flags supply (go/cmd/gh-ost/main.go) and that a library user must
// set explicitly; zero values in a Spec mean these.
const (
	DefaultChunkSize          = 1000
	DefaultDMLBatchSize       = 10
	DefaultMaxLagMillis       = 1500
	DefaultCutOverLockTimeout = 4 * time.Second
	DefaultRetries            = 60
	DefaultHeartbeatInterval  = 100 * time.Millisecond
	DefaultBackoffMaxInterval = 64 * time.Second
)

// Spec describes one gh-ost migration. It is an immutable value: build it, Validate it (Start does)
// and hand it over; the zero value of each tuning field means gh-ost's default.
type Spec struct {
	MigrationID string `json:"migration_id"` // unique per migration; also seeds the replica server id
	Schema      string `json:"schema"`
	Table       string `json:"table"`
	// Alter is the clause after "ALTER TABLE <table>", e.g. "MODIFY id BIGINT, ADD COLUMN c INT".
	// It comes from the planner, which parsed and vetted it; it is executed as DDL text.
	Alter string `json:"alter"`

	Primary Endpoint `json:"primary"`
	Replica Endpoint `json:"replica"`
	// OnPrimary runs gh-ost against the primary (inspection and binlog there). By default gh-ost
	// reads from the replica, its recommended topology, and writes to the primary.
	OnPrimary bool `json:"on_primary"`

	ChunkSize    int64 `json:"chunk_size"`     // rows per copy chunk, 10..100000
	DMLBatchSize int64 `json:"dml_batch_size"` // binlog events per apply transaction, 1..100; adaptive: the floor
	// AdaptiveDMLBatch grows the batch with the backlog of binlog events up to gh-ost's 100 and
	// shrinks it back to DMLBatchSize as it drains (runner/batch). Off by default: under 1500
	// foreground operations a second it left wall and CPU time as they were and raised the
	// foreground's p99 in six runs of seven (BENCHMARKS.md, "Apply batch").
	AdaptiveDMLBatch bool   `json:"adaptive_dml_batch,omitempty"`
	MaxLagMillis     int64  `json:"max_lag_millis"` // gh-ost throttles above this replica lag
	MaxLoad          string `json:"max_load"`       // e.g. "Threads_running=25"; gh-ost throttles above
	CriticalLoad     string `json:"critical_load"`  // e.g. "Threads_running=200"; gh-ost aborts above
	// CutOverLockTimeout bounds how long one cut-over attempt waits for its table lock (writes to
	// the table wait behind it meanwhile) before it gives up and is retried: a whole, even
	// number of seconds in 2s..20s. gh-ost is given half of it (see ghostLockTimeoutSeconds).
	CutOverLockTimeout time.Duration `json:"cut_over_lock_timeout"`
	Retries            int64         `json:"retries"`
	NiceRatio          float64       `json:"nice_ratio"`
	ReplicaServerID    uint32        `json:"replica_server_id"` // 0: derived from MigrationID
	// EstimateRowsOnly skips gh-ost's concurrent COUNT(*) and keeps the statistics estimate.
	EstimateRowsOnly bool `json:"estimate_rows_only"`
	// DropOldTable makes gh-ost drop the renamed original (the _del table) after a successful
	// cut-over. By default it is kept, under a timestamped name given in Result.OldTable, so the
	// change can be undone by a rename and a later migration of the same table is not blocked.
	DropOldTable bool `json:"drop_old_table"`

	// IgnoreWarnings turns gh-ost's PanicOnWarnings off: rows that collide with a new unique key
	// or do not fit a narrower column during the copy are then dropped or truncated silently, as
	// by stock gh-ost. Off by default: such a run fails, the original table intact.
	IgnoreWarnings bool `json:"ignore_warnings"`
	// ApproveRenamedColumns confirms that a CHANGE renaming a column means it (gh-ost refuses the
	// ALTER otherwise); the planner asks the user for it (--allow-incompatible).
	ApproveRenamedColumns bool `json:"approve_renamed_columns"`
	// SkipMetadataLockCheck runs without gh-ost's pre-rename metadata-lock check, which needs
	// performance_schema (gh-ost PR #1536). Start sets it when the primary runs without
	// performance_schema; the cut-over audit then catches writes lost in the rename race.
	SkipMetadataLockCheck bool `json:"skip_metadata_lock_check"`

	// TriggerSuffix is what gh-ost appends to the name of each trigger it re-creates on the new
	// table (DefaultTriggerSuffix when empty); a trigger that already ends in it loses it instead,
	// so names alternate from one migration of a table to the next and never clash.
	TriggerSuffix string `json:"trigger_suffix"`

	// CheckpointInterval is how often gh-ost checkpoints (DefaultCheckpointInterval when zero;
	// at least 10 s). NoCheckpoint turns checkpoints off: a dead run then cannot resume, and a
	// completed one cannot be reverted.
	CheckpointInterval time.Duration `json:"checkpoint_interval"`
	NoCheckpoint       bool          `json:"no_checkpoint"`
	// Resume continues a run of this migration that died, from its last checkpoint: its ghost,
	// changelog and checkpoint tables must be there (Start checks, see checkpoint.go).
	Resume bool `json:"resume"`
	// InspectorServerID, when set, is the @@server_id of the server gh-ost read the binlog from in
	// the run being resumed or reverted: checkpoint coordinates are only valid there.
	InspectorServerID uint32 `json:"inspector_server_id"`
	// Revert undoes a completed migration of Table: gh-ost replays the writes made since its
	// cut-over into OldTable (the kept original) and swaps the two back. Alter is not used.
	Revert   bool   `json:"revert"`
	OldTable string `json:"old_table"`

	// WorkDir is a directory private to this migration: socket, flag files and the worker log.
	// Start creates it with mode 0700 and refuses one that is not private (see privateDir).
	WorkDir string `json:"work_dir"`

	// PprofAddr, when set, makes the worker serve Go's profiles on this host:port (port 0: the
	// kernel chooses; see Worker.PprofAddr). Off by default (pprof.go).
	PprofAddr string `json:"pprof_addr,omitempty"`
	// NoBinlogFilter makes gh-ost read the binlog straight from the server, decoding the row
	// events of every table, instead of through the worker's filter (binlogfilter.go), which
	// hands it only those of the tables it follows. For comparison and as a way out.
	NoBinlogFilter bool `json:"no_binlog_filter,omitempty"`
}

// DefaultTriggerSuffix is the suffix of the triggers gh-ost re-creates on the new table.
const DefaultTriggerSuffix = "_ggt"

var triggerSuffixRE = regexp.MustCompile(`^[0-9A-Za-z_]+$`)

// ErrInvalidSpec is wrapped by every Validate error.
var ErrInvalidSpec = errors.New("ghost: invalid spec")

// Validate reports the first problem with s, wrapping ErrInvalidSpec.
func (s Spec) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, args...))
	}
	switch {
	case strings.TrimSpace(s.MigrationID) == "":
		return bad("migration id is empty")
	case s.Schema == "" || s.Table == "":
		return bad("schema and table are required")
	case strings.TrimSpace(s.Alter) == "" && !s.Revert:
		return bad("alter clause is empty")
	case s.Revert && (s.OldTable == "" || s.Resume):
		return bad("a revert needs the old table's name and cannot be a resume")
	case s.TriggerSuffix != "" && !triggerSuffixRE.MatchString(s.TriggerSuffix):
		// gh-ost's own rule (go/cmd/gh-ost/main.go).
		return bad("trigger suffix %q: only letters, digits and _", s.TriggerSuffix)
	case s.CheckpointInterval != 0 && s.CheckpointInterval < 10*time.Second:
		// gh-ost's binary refuses --checkpoint-seconds below 10 (go/cmd/gh-ost/main.go).
		return bad("checkpoint interval %s below 10s", s.CheckpointInterval)
	case strings.Contains(s.Alter, ";"):
		return bad("alter clause must be one statement without ';'")
	case len(s.Table) > 64-len("_ggs_00000000"):
		return bad("table name %q is too long for a private clone name", s.Table)
	case s.WorkDir == "" || !filepath.IsAbs(s.WorkDir):
		return bad("work dir must be an absolute path, got %q", s.WorkDir)
	case len(s.socketFile()) > maxSocketPath:
		return bad("work dir %q is too long for a unix socket path", s.WorkDir)
	}
	if err := s.Primary.validate("primary"); err != nil {
		return bad("%v", err)
	}
	if !s.OnPrimary {
		if err := s.Replica.validate("replica"); err != nil {
			return bad("%v (or set OnPrimary)", err)
		}
	}
	t := s.withDefaults()
	switch {
	case t.ChunkSize < 10 || t.ChunkSize > 100000:
		return bad("chunk size %d outside 10..100000", s.ChunkSize)
	case t.DMLBatchSize < 1 || t.DMLBatchSize > 100:
		return bad("dml batch size %d outside 1..100", s.DMLBatchSize)
	case t.MaxLagMillis < 100:
		return bad("max lag %dms below 100ms", s.MaxLagMillis)
	case t.CutOverLockTimeout < 2*time.Second || t.CutOverLockTimeout > 20*time.Second ||
		t.CutOverLockTimeout%(2*time.Second) != 0:
		// gh-ost takes whole seconds in 1..10 and waits twice that for the lock (see
		// ghostLockTimeoutSeconds), so only even whole seconds can be honoured exactly.
		return bad("cut-over lock timeout %s: must be a whole, even number of seconds in 2s..20s (gh-ost waits twice its own timeout for the table lock)", s.CutOverLockTimeout)
	case t.Retries < 1:
		return bad("retries %d below 1", s.Retries)
	case migration.CheckNiceRatio(t.NiceRatio) != nil:
		return bad("%v", migration.CheckNiceRatio(t.NiceRatio))
	}
	for name, v := range map[string]string{"max load": s.MaxLoad, "critical load": s.CriticalLoad} {
		if _, err := base.ParseLoadMap(v); err != nil {
			return bad("%s %q: %v", name, v, err)
		}
	}
	return nil
}

func (e Endpoint) validate(role string) error {
	if e.Host == "" || e.Port <= 0 || e.Port > 65535 || e.User == "" {
		return fmt.Errorf("%s endpoint needs host, port and user", role)
	}
	return nil
}

// withDefaults returns s with every zero tuning field set to gh-ost's flag default.
func (s Spec) withDefaults() Spec {
	if s.ChunkSize == 0 {
		s.ChunkSize = DefaultChunkSize
	}
	if s.DMLBatchSize == 0 {
		s.DMLBatchSize = DefaultDMLBatchSize
	}
	if s.MaxLagMillis == 0 {
		s.MaxLagMillis = DefaultMaxLagMillis
	}
	if s.CutOverLockTimeout == 0 {
		s.CutOverLockTimeout = DefaultCutOverLockTimeout
	}
	if s.Retries == 0 {
		s.Retries = DefaultRetries
	}
	if s.ReplicaServerID == 0 {
		s.ReplicaServerID = ServerIDFor(s.MigrationID)
	}
	if s.CheckpointInterval == 0 {
		s.CheckpointInterval = DefaultCheckpointInterval
	}
	if s.TriggerSuffix == "" {
		s.TriggerSuffix = DefaultTriggerSuffix
	}
	return s
}

// ServerIDFor derives the server id gh-ost's binlog client registers with from a migration id.
// Two binlog clients with the same id on one server kick each other off (error 4052) and both
// livelock reconnecting, so every concurrent migration needs its own. Ids start at 100,000,000 to
// stay clear of the small ids servers are usually given.
func ServerIDFor(migrationID string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(migrationID))
	return 100_000_000 + h.Sum32()%4_000_000_000
}

// maxSocketPath is the usable length of sun_path on Linux (108 bytes with the terminating NUL,
// some room kept).
const maxSocketPath = 100

// removeRunFiles removes what only a running worker uses (gh-ost's socket, the flag files, the
// pprof address); the worker log stays for `migrate logs` until the work dir is swept
// (runner.SweepWorkDir).
func (s Spec) removeRunFiles() {
	for _, f := range []string{s.socketFile(), s.throttleFile(), s.panicFile(), s.pprofFile()} {
		_ = os.Remove(f)
	}
}

// Paths of the per-migration files in WorkDir.
func (s Spec) socketFile() string   { return filepath.Join(s.WorkDir, "gh-ost.sock") }
func (s Spec) throttleFile() string { return filepath.Join(s.WorkDir, "throttle.flag") }
func (s Spec) panicFile() string    { return filepath.Join(s.WorkDir, "panic.flag") }

// LogFile is where the worker's stdout and stderr (gh-ost's status lines and log) go.
func (s Spec) LogFile() string { return filepath.Join(s.WorkDir, "worker.log") }

// ghostLockTimeoutSeconds is gh-ost's CutOverLockTimeoutSeconds for a Spec's CutOverLockTimeout:
// half of it. gh-ost v1.1.10 sets the locking session's lock_wait_timeout to twice its value
// before LOCK TABLES (go/logic/applier.go AtomicCutOverMagicLock, "tableLockTimeoutSeconds :=
// CutOverLockTimeoutSeconds * 2"), and every write to the table queues behind that pending lock:
// given the documented timeout unhalved, a long transaction stalled writers for twice it (issue
// 10: 5.996 s with 3 s). The rest of the attempt uses the value once (the RENAME's
// lock_wait_timeout in AtomicCutoverRename, the wait for the events up to the lock in
// migrator.go waitForEventsUpToLock) and its metadata-lock check polls 100 × 10 ms per second
// of it, so a locked attempt gives up after about half the documented timeout too.
func (s Spec) ghostLockTimeoutSeconds() int64 { return int64(s.CutOverLockTimeout / (2 * time.Second)) }

// inspector is the server gh-ost inspects and reads the binlog from.
func (s Spec) inspector() Endpoint {
	if s.OnPrimary {
		return s.Primary
	}
	return s.Replica
}
