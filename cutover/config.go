package cutover

import (
	"errors"
	"fmt"
	"time"
)

// Window holds the load limits the database must be under for the rename. A zero limit turns
// its line off (it is not shown), except MaxBacklog, where zero means "fully drained".
type Window struct {
	// MaxReplicaLag is the highest replica lag (Seconds_Behind_Master, or Deps.ReplicaLag when
	// set) at which the gate may open. A replica that is not replicating always fails the line.
	MaxReplicaLag time.Duration
	// MaxThreadsRunning is the highest Threads_running on the primary.
	MaxThreadsRunning int
	// MaxQPSRatio is the highest ratio of the recent query rate (Questions per second over
	// QPSRecent) to its own baseline (the rate over the QPSBaseline before that). 1.5 means
	// "no more than 50% above normal": a rename during a traffic spike queues more requests.
	MaxQPSRatio float64
	QPSBaseline time.Duration // default 60s
	QPSRecent   time.Duration // default 5s
	// MaxBacklog is the highest number of binlog events the engine has not yet applied to the
	// ghost table.
	MaxBacklog int64
}

// Blockers holds the limits on connections that stand in the way of the rename. The rename
// needs an exclusive metadata lock on the table: a transaction that read or wrote the table holds
// a shared one until it ends, and every query that arrives meanwhile queues behind the rename.
type Blockers struct {
	// MaxTransactionAge is the age beyond which an open transaction blocks the gate; 0 turns
	// the line off. Without MariaDB's METADATA_LOCK_INFO plugin the server cannot tell which
	// tables a transaction holds, so every older transaction counts (and the line says so).
	MaxTransactionAge time.Duration
	// IgnoreMDLWaiters turns the metadata-lock waiter line off.
	IgnoreMDLWaiters bool
}

// Checksum configures the comparison of the original and the ghost table.
type Checksum struct {
	Enabled bool
	// ChunkSize is the number of primary-key values per chunk. Default 1000.
	ChunkSize int
	// Rechecks is how often a chunk that differed at the first look is compared strictly (its
	// rows share-locked until gh-ost has applied the binlog up to them), RecheckWait apart,
	// before it is left as busy and compared again later. Default 5, 200ms.
	Rechecks    int
	RecheckWait time.Duration
	// ApplyTimeout bounds how long one comparison waits for the engine to apply the binlog up to
	// the position its chunk was read at (Deps.AwaitApplied). A strict comparison holds its share
	// locks that long at most: writers to that one chunk wait meanwhile. Default 1s.
	ApplyTimeout time.Duration
	// Exclude names columns not to compare, e.g. one whose change is lossy or whose text form
	// changes by design (FLOAT → DOUBLE, DECIMAL(10,2) → DECIMAL(12,4)).
	Exclude []string
}

// Participants configures the two-phase protocol with the service instances of the table.
//
// Prepare goes out in rounds (issue 10: shedding must be bounded at both ends). A round sends
// prepare to every live instance; when not all of them acknowledged ready within
// PrepareTimeout and the gate did not open, the round is aborted (every instance hears abort
// and stops shedding) and the next one starts after a backoff (RoundBackoff, doubling up to
// MaxRoundBackoff). Each prepare carries PrepareHold: the instance stops shedding by itself
// that long after it received it, commit or abort or not, so no instance sheds longer than
// PrepareHold whatever fails (the controller, the network, another instance).
type Participants struct {
	// OldVersion and NewVersion are the schema versions the phases carry (e.g. "v1", "v2").
	// Required when the gate has a Registry.
	OldVersion, NewVersion string
	// PrepareTimeout is a round's deadline: every live instance must have acknowledged ready
	// by then. Default 2s.
	PrepareTimeout time.Duration
	// PrepareHold is how long a prepared instance stays prepared without hearing commit or
	// abort; it must exceed PrepareTimeout, and the difference is what the rename has. Default 6s.
	PrepareHold time.Duration
	// RoundBackoff is the pause after the first aborted round; it doubles after each further
	// one, up to MaxRoundBackoff. Defaults 1s and 30s.
	RoundBackoff, MaxRoundBackoff time.Duration
	// EvictAfter is how long an instance's lease may have lapsed before the gate evicts it
	// (and records who and why), so that a dead instance stops holding the gate closed.
	// Default 10s. KeepLapsed turns the eviction off: a DBA then evicts by hand.
	EvictAfter time.Duration
	KeepLapsed bool
	// FinishTimeout bounds the delivery of commit or abort. Default 30s.
	FinishTimeout time.Duration
}

// Config is the gate's setting for one migration, an immutable value. Zero durations mean
// their defaults (see WithDefaults).
type Config struct {
	// Interval is how often the conditions are re-checked. Default 250ms.
	Interval time.Duration
	// QueryTimeout bounds each query of a check. Default 2s.
	QueryTimeout time.Duration
	Window       Window
	Blockers     Blockers
	Checksum     Checksum
	Participants Participants
	Approval     Approval
}

// WithDefaults returns c with unset fields at their defaults.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Interval, 250*time.Millisecond)
	def(&c.QueryTimeout, 2*time.Second)
	def(&c.Window.QPSBaseline, time.Minute)
	def(&c.Window.QPSRecent, 5*time.Second)
	def(&c.Checksum.RecheckWait, 200*time.Millisecond)
	def(&c.Checksum.ApplyTimeout, time.Second)
	def(&c.Participants.PrepareTimeout, 2*time.Second)
	def(&c.Participants.PrepareHold, 6*time.Second)
	def(&c.Participants.RoundBackoff, time.Second)
	def(&c.Participants.MaxRoundBackoff, 30*time.Second)
	def(&c.Participants.EvictAfter, 10*time.Second)
	def(&c.Participants.FinishTimeout, 30*time.Second)
	if c.Checksum.ChunkSize == 0 {
		c.Checksum.ChunkSize = 1000
	}
	if c.Checksum.Rechecks == 0 {
		c.Checksum.Rechecks = 5
	}
	if c.Approval.Mode == "" {
		c.Approval.Mode = ApprovalManual // the safe default: a person decides
	}
	return c
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("cutover: invalid config")

// Validate reports every setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"interval", c.Interval}, {"query timeout", c.QueryTimeout}, {"max replica lag", c.Window.MaxReplicaLag},
		{"qps baseline", c.Window.QPSBaseline}, {"qps recent", c.Window.QPSRecent},
		{"max transaction age", c.Blockers.MaxTransactionAge}, {"recheck wait", c.Checksum.RecheckWait}, {"checksum apply timeout", c.Checksum.ApplyTimeout},
		{"prepare timeout", c.Participants.PrepareTimeout}, {"finish timeout", c.Participants.FinishTimeout},
		{"prepare hold", c.Participants.PrepareHold}, {"round backoff", c.Participants.RoundBackoff},
		{"max round backoff", c.Participants.MaxRoundBackoff}, {"evict after", c.Participants.EvictAfter},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v: must not be negative", d.name, d.v))
		}
	}
	if c.Window.MaxThreadsRunning < 0 || c.Window.MaxQPSRatio < 0 || c.Window.MaxBacklog < 0 {
		errs = append(errs, errors.New("window limits must not be negative"))
	}
	if c.Window.MaxQPSRatio > 0 && c.Window.QPSRecent >= c.Window.QPSBaseline {
		errs = append(errs, fmt.Errorf("qps recent %v must be shorter than qps baseline %v", c.Window.QPSRecent, c.Window.QPSBaseline))
	}
	if c.Checksum.ChunkSize < 0 || c.Checksum.Rechecks < 0 {
		errs = append(errs, errors.New("checksum chunk size and rechecks must not be negative"))
	}
	if p := c.Participants; p.PrepareHold > 0 && p.PrepareHold <= p.PrepareTimeout {
		errs = append(errs, fmt.Errorf("participants: prepare hold %v must exceed the prepare timeout %v (the rename happens in between)", p.PrepareHold, p.PrepareTimeout))
	}
	if p := c.Participants; p.MaxRoundBackoff > 0 && p.MaxRoundBackoff < p.RoundBackoff {
		errs = append(errs, fmt.Errorf("participants: max round backoff %v is below the round backoff %v", p.MaxRoundBackoff, p.RoundBackoff))
	}
	if c.Participants.OldVersion != "" && c.Participants.OldVersion == c.Participants.NewVersion {
		errs = append(errs, fmt.Errorf("participants: new version equals old version %q", c.Participants.OldVersion))
	}
	if c.Approval.Mode != "" {
		if err := c.Approval.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}
