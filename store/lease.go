package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// A migration is owned by one controller under a lease: the owner's id, an expiry the state
// database computes (UTC_TIMESTAMP(6) plus the lease duration, so the controllers' clocks never
// matter), and a fencing token that grows by one with every claim (Create, TakeOver). The store
// remembers the token of every claim it made; each state write of the owner (Transition, Fail,
// SaveProgress, Heartbeat, AddEvent) compares it with the row's under the row lock and is
// refused with *FencedError when another controller has claimed the migration since. That is
// what makes a takeover safe when the old owner is not dead but cut off: whatever it still
// tries to write after coming back is refused (Kleppmann's fencing token; orchestrator and
// Vitess likewise keep the truth in the database they already have).

// ErrFenced means a write was refused because the writer's lease is no longer the migration's:
// another controller claimed it since (*FencedError says who and with which token).
var ErrFenced = errors.New("store: write refused by the fencing token: another controller claimed the migration")

// FencedError is a write refused by the fencing token.
type FencedError struct {
	ID      string
	Held    int64  // the token of this store's claim
	Current int64  // the token in the database
	Owner   string // the lease's owner in the database
}

// Error implements error.
func (e *FencedError) Error() string {
	return fmt.Sprintf("store: write to migration %s refused: this controller's lease (token %d) was superseded by %s (token %d)",
		e.ID, e.Held, e.Owner, e.Current)
}

// Unwrap makes errors.Is(err, ErrFenced) true.
func (e *FencedError) Unwrap() error { return ErrFenced }

// Lease is a controller's claim on a migration as recorded in the database.
type Lease struct {
	Owner     string    `json:"owner,omitempty"` // Owner.String() of the claimant
	Token     int64     `json:"token"`           // grows with every claim; 0: never claimed under a lease
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// LeaseDuration is how long a claim lasts without a renewal (Options.StaleAfter): another
// controller may take the migration over once it has passed.
func (s *Store) LeaseDuration() time.Duration { return s.opts.StaleAfter }

// ownerID is the lease owner this store writes.
func (s *Store) ownerID() string { return s.opts.Owner.String() }

// Held returns the fencing token of this store's claim on migration id, if it holds one.
func (s *Store) Held(id string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.held[id]
	return t, ok
}

func (s *Store) hold(id string, token int64) {
	s.mu.Lock()
	s.held[id] = token
	s.mu.Unlock()
}

func (s *Store) release(id string) {
	s.mu.Lock()
	delete(s.held, id)
	s.mu.Unlock()
}

// rowState is what a writer reads of a migration under its row lock.
type rowState struct {
	status     string
	active     bool
	leaseOwner string
	token      int64
}

// lockRow reads and row-locks what the fencing check needs of migration id inside tx.
func (s *Store) lockRow(ctx context.Context, tx *sql.Tx, id string) (rowState, error) {
	if !validID(id) {
		return rowState{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	var r rowState
	var active sql.NullInt64
	var owner sql.NullString
	err := tx.QueryRowContext(ctx, "SELECT status, active, lease_owner, lease_token FROM "+s.migrations+
		" WHERE id = ? FOR UPDATE", id).Scan(&r.status, &active, &owner, &r.token)
	if errors.Is(err, sql.ErrNoRows) {
		return rowState{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	r.active, r.leaseOwner = active.Valid, owner.String
	return r, err
}

// fence refuses a write of this store to a migration it claimed when the row's lease is no
// longer that claim. A store that never claimed id (a person's cleanup, a note by a controller
// that does not own it) writes unfenced: only an owner's writes carry a token.
func (s *Store) fence(id string, r rowState) error {
	held, ok := s.Held(id)
	if !ok {
		return nil
	}
	if r.token != held || r.leaseOwner != s.ownerID() {
		return &FencedError{ID: id, Held: held, Current: r.token, Owner: r.leaseOwner}
	}
	return nil
}

// leaseExpiry is the SQL of a fresh lease's expiry; its one argument is leaseMicros().
const leaseExpiry = "UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND"

func (s *Store) leaseMicros() int64 { return s.opts.StaleAfter.Microseconds() }

// ReleaseLease gives up this store's claim on migration id so that another controller takes it
// over at once rather than after the lease's expiry: the lease expires now (fenced: only the
// current claim can release it), and an event says why. The caller has stopped the run first.
func (s *Store) ReleaseLease(ctx context.Context, id, why string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		row, err := s.lockRow(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, held := s.Held(id); !held {
			return fmt.Errorf("%w: %s is not claimed by this controller", ErrNotOwner, id)
		}
		if err := s.fence(id, row); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE "+s.migrations+
			" SET lease_expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 MICROSECOND, updated_at = UTC_TIMESTAMP(6) WHERE id = ?", id); err != nil {
			return err
		}
		return s.insertEvent(ctx, tx, id, EventNote, fmt.Sprintf("lease (token %d) released by %s: %s", row.token, s.opts.Owner, why), nil)
	})
	if err != nil {
		return fmt.Errorf("store: release the lease of %s: %w", id, err)
	}
	s.release(id)
	return nil
}
