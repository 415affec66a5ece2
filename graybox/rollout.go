package graybox

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync/atomic"
)

// Buckets is the resolution of a Rollout: keys fall into one of Buckets buckets, so percentages
// are honoured to 0.01%.
const Buckets = 10_000

// Bucket places key in [0, Buckets) by a stable hash: the same salt and key give the same bucket
// in every process and every version of graybox. SHA-256, not a faster hash, because similar keys
// ("user1", "user2") must spread evenly and the cost is negligible next to a database read.
func Bucket(salt, key string) int {
	h := sha256.New()
	_, _ = h.Write([]byte(salt))
	_, _ = h.Write([]byte{0}) // so that ("ab","c") and ("a","bc") differ
	_, _ = h.Write([]byte(key))
	sum := h.Sum(nil)
	// The modulo bias of 2^64 mod 10^4 is below 1e-15: irrelevant.
	return int(binary.BigEndian.Uint64(sum[:8]) % Buckets)
}

// Rollout moves readers to a new schema version in batches: a key (e.g. a user id) is on the new
// version when its bucket is below the current percentage. Raising the percentage only adds
// keys; a key that moved stays moved, so no user flips back and forth. Safe for concurrent use;
// the zero value is not usable, create one with NewRollout.
type Rollout struct {
	salt      string
	threshold atomic.Int64 // buckets below it are on the new version
}

// NewRollout returns a rollout at 0%. salt separates rollouts: use the migration id or the
// table name, so that the same users are not always the first to move.
func NewRollout(salt string) *Rollout { return &Rollout{salt: salt} }

// SetPercent sets the share of keys on the new version, 0 to 100. Lowering it is allowed (to
// back out) and moves back exactly the keys that moved last.
func (r *Rollout) SetPercent(pct float64) error {
	if !(pct >= 0 && pct <= 100) { // also refuses NaN
		return fmt.Errorf("graybox: rollout percentage %v is not in [0, 100]", pct)
	}
	r.threshold.Store(int64(pct*Buckets/100 + 0.5))
	return nil
}

// Percent is the current share of keys on the new version.
func (r *Rollout) Percent() float64 { return float64(r.threshold.Load()) * 100 / Buckets }

// UseNew reports whether key reads the new version.
func (r *Rollout) UseNew(key string) bool { return int64(Bucket(r.salt, key)) < r.threshold.Load() }
