package runner

import (
	"errors"
	"fmt"
	"time"

	"github.com/ghostgate/ghostgate/runner/chunk"
	"github.com/ghostgate/ghostgate/runner/estimate"
	"github.com/ghostgate/ghostgate/runner/ghost"
	"github.com/ghostgate/ghostgate/runner/native"
	"github.com/ghostgate/ghostgate/runner/throttle"
)

// Config is everything a Runner needs besides the plan: where the servers are and how hard it may
// push them. It is an immutable value; Validate checks it.
type Config struct {
	// Cluster names the cluster Primary belongs to, recorded with every migration ("": the only one).
	Cluster string
	Primary ghost.Endpoint
	// Replicas are watched for lag; the first is the one gh-ost reads the binlog from unless
	// OnPrimary is set.
	Replicas  []ghost.Endpoint
	OnPrimary bool

	Throttle throttle.Config
	Native   native.Config
	Ghost    GhostTuning
	// Chunk sizes gh-ost's chunks by time (zero: on, with defaults; Fixed: Ghost.ChunkSize stays).
	Chunk chunk.Config
	// Estimate tunes the copy's rate and ETA (zero: defaults).
	Estimate estimate.Config

	// WorkDir holds one directory per gh-ost migration (socket, flag files, worker log).
	WorkDir string
	// WorkDirRetention is how long an ended migration's directory is kept (SweepWorkDir;
	// default DefaultWorkDirRetention).
	WorkDirRetention time.Duration
	// HeartbeatInterval is how often the runner tells the store it is alive and renews the
	// migration's lease (default 2s).
	HeartbeatInterval time.Duration
	// LeaseMargin is how long before its lease would expire a run whose renewals keep failing
	// stops its worker (keeping the ghost tables), so that it has stopped before another
	// controller may claim the migration (default: a quarter of the store's lease duration).
	LeaseMargin time.Duration
	// SaveProgressInterval bounds how often progress is written to the store (default 1s).
	SaveProgressInterval time.Duration
}

// GhostTuning are the gh-ost settings a user may change per run; zero means gh-ost's default.
type GhostTuning struct {
	// ChunkSize is gh-ost's rows per copy chunk; with chunks sized by time (Config.Chunk) the
	// starting size. Zero: gh-ost's 1000, or with chunks sized by time a quarter of what this
	// server's recent copies did in one target time when that is more (startingChunk).
	ChunkSize int64
	// DMLBatchSize is the binlog events gh-ost applies per transaction: without AdaptiveDMLBatch the
	// size, otherwise the floor from which it grows with the backlog up to 100 (runner/batch).
	DMLBatchSize       int64
	AdaptiveDMLBatch   bool
	CutOverLockTimeout time.Duration
	NiceRatio          float64
	DropOldTable       bool
	// IgnoreWarnings runs gh-ost without PanicOnWarnings: rows that collide with a new unique key
	// during the copy are dropped silently. Off by default (the run fails, the original intact).
	IgnoreWarnings bool
	// CheckpointInterval is how often gh-ost checkpoints (ghost.DefaultCheckpointInterval when
	// zero): what a resume continues from and what a revert needs.
	CheckpointInterval time.Duration
	// CutOverPermit is how long the gate's go-ahead lets gh-ost start cut-over attempts
	// (ghost.DefaultCutOverPermit when zero); a retry after it asks the gate again.
	CutOverPermit time.Duration
	// PprofAddr, when set, makes each gh-ost worker serve Go's profiles on this host:port (port
	// 0: kernel-chosen); the address is written to the migration's event log.
	PprofAddr string
	// NoBinlogFilter makes each gh-ost worker read the binlog unfiltered (ghost.Spec.NoBinlogFilter).
	NoBinlogFilter bool
	// ExactRowCount makes gh-ost count the table's rows (SELECT COUNT(*) on the server it
	// inspects, while the copy starts) for the progress and the ETA, instead of the server's
	// statistics estimate, which gh-ost and pt-online-schema-change use by default. Off by
	// default: on the sandbox the count competed with the copy's first seconds and made a 2M-row
	// copy 25–30% slower, and its depressed early rate made the ETA at 10% 5–83% too long
	// (−9 … +10% without it; BENCHMARKS.md, run 5). A table whose statistics are far off (after
	// a bulk load, before ANALYZE) shows its progress held at 99% once the copy passes the
	// estimate, and no ETA from then on.
	ExactRowCount bool
}

// ErrInvalidConfig is wrapped by every error of Config.Validate.
var ErrInvalidConfig = errors.New("runner: invalid config")

// Validate reports what cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Primary.Host == "" || c.Primary.Port == 0 || c.Primary.User == "" {
		errs = append(errs, errors.New("primary needs host, port and user"))
	}
	if len(c.Replicas) == 0 && !c.OnPrimary {
		errs = append(errs, errors.New("no replica given: name one (gh-ost reads its binlog) or run on the primary"))
	}
	if c.WorkDir == "" {
		errs = append(errs, errors.New("work dir is empty"))
	}
	if c.WorkDirRetention < 0 {
		errs = append(errs, fmt.Errorf("work dir retention %s is negative", c.WorkDirRetention))
	}
	if err := c.Throttle.WithDefaults().Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Chunk.WithDefaults().Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Estimate.WithDefaults().Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Native.WithDefaults().Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 2 * time.Second
	}
	if c.SaveProgressInterval == 0 {
		c.SaveProgressInterval = time.Second
	}
	if c.WorkDirRetention == 0 {
		c.WorkDirRetention = DefaultWorkDirRetention
	}
	return c
}
