package store

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
)

// controller opens a store as controller name (another host, so the pid check never applies:
// only the lease decides) with a short lease.
func controller(t *testing.T, d *sandboxtest.DB, name string, lease time.Duration) *Store {
	t.Helper()
	return openOn(t, d, Options{Owner: Owner{Host: name, PID: 1}, StaleAfter: lease})
}

// running creates a migration through s and moves it to running.
func running(t *testing.T, s *Store, table string) Migration {
	t.Helper()
	m, err := s.Create(t.Context(), sample(table))
	require.NoError(t, err)
	require.NoError(t, s.Transition(t.Context(), m.ID, migration.StatusPlanning, "plan"))
	require.NoError(t, s.Transition(t.Context(), m.ID, migration.StatusRunning, "copy"))
	return m
}

// takeOverWhenExpired takes m over through s as soon as its lease has expired.
func takeOverWhenExpired(t *testing.T, s *Store, id string) Migration {
	t.Helper()
	var got Migration
	require.Eventually(t, func() bool {
		var err error
		got, err = s.TakeOver(t.Context(), id)
		var alive *OwnerAliveError
		require.True(t, err == nil || assert.ErrorAs(t, err, &alive), "%v", err)
		return err == nil
	}, time.Minute, 50*time.Millisecond, "the lease never expired")
	return got
}

// TestLeaseFencesStaleOwner: once another controller has claimed a migration whose lease
// expired, every write of the old owner is refused by the fencing token and changes nothing.
func TestLeaseFencesStaleOwner(t *testing.T) {
	t.Parallel()
	d := sandboxtest.New(t)
	a := controller(t, d, "ctl-a", time.Second)
	b := controller(t, d, "ctl-b", time.Second)
	m := running(t, a, "users")
	assert.Equal(t, Lease{Owner: "ctl-a:1", Token: 1, ExpiresAt: m.Lease.ExpiresAt}, m.Lease)
	held, ok := a.Held(m.ID)
	require.True(t, ok)
	assert.Equal(t, int64(1), held)

	_, err := b.TakeOver(t.Context(), m.ID)
	var alive *OwnerAliveError
	require.ErrorAs(t, err, &alive, "a live lease is never taken")

	got := takeOverWhenExpired(t, b, m.ID)
	assert.Equal(t, "ctl-b:1", got.Lease.Owner)
	assert.Equal(t, int64(2), got.Lease.Token, "every claim raises the token")

	// The old owner comes back (a partition healed, a GC pause ended): refused, every write.
	var fenced *FencedError
	require.ErrorAs(t, a.Heartbeat(t.Context(), m.ID), &fenced)
	assert.Equal(t, FencedError{ID: m.ID, Held: 1, Current: 2, Owner: "ctl-b:1"}, *fenced)
	assert.ErrorIs(t, a.Transition(t.Context(), m.ID, migration.StatusReady, "stale"), ErrFenced)
	assert.ErrorIs(t, a.Fail(t.Context(), m.ID, assert.AnError), ErrFenced)
	assert.ErrorIs(t, a.SaveProgress(t.Context(), m.ID, migration.Progress{RowsCopied: 1}), ErrFenced)
	assert.ErrorIs(t, a.AddEvent(t.Context(), m.ID, EventNote, "stale note", nil), ErrFenced)

	now, err := b.Get(t.Context(), m.ID)
	require.NoError(t, err)
	assert.Equal(t, migration.StatusRunning, now.Status, "the stale owner changed nothing")
	assert.Nil(t, now.Progress)
	evs, err := b.Events(t.Context(), m.ID, 0, 0)
	require.NoError(t, err)
	for _, e := range evs {
		assert.NotEqual(t, "stale note", e.Message)
	}
	assert.Equal(t, EventTakeOver, evs[len(evs)-1].Kind)

	// The new owner writes as usual, and the migration can end.
	require.NoError(t, b.Heartbeat(t.Context(), m.ID))
	require.NoError(t, b.Transition(t.Context(), m.ID, migration.StatusReady, "at the gate"))
	require.NoError(t, b.Transition(t.Context(), m.ID, migration.StatusCuttingOver, "gate open"))
	require.NoError(t, b.Transition(t.Context(), m.ID, migration.StatusComplete, "done"))
	_, ok = b.Held(m.ID)
	assert.False(t, ok, "an ended migration holds no lease")
}

// TestHeartbeatRenewsLease: an owner that keeps renewing keeps its migration, however long it
// runs past the lease duration.
func TestHeartbeatRenewsLease(t *testing.T) {
	t.Parallel()
	d := sandboxtest.New(t)
	a := controller(t, d, "ctl-a", 2*time.Second)
	b := controller(t, d, "ctl-b", 2*time.Second)
	m := running(t, a, "users")
	first := m.Lease.ExpiresAt
	for range 10 {
		time.Sleep(300 * time.Millisecond)
		require.NoError(t, a.Heartbeat(t.Context(), m.ID))
		_, err := b.TakeOver(t.Context(), m.ID)
		var alive *OwnerAliveError
		require.ErrorAs(t, err, &alive, "a renewed lease is never taken")
	}
	now, err := a.Get(t.Context(), m.ID)
	require.NoError(t, err)
	assert.True(t, now.Lease.ExpiresAt.After(first), "renewed: %v after %v", now.Lease.ExpiresAt, first)
	assert.Equal(t, int64(1), now.Lease.Token, "a renewal is not a claim")
}

// TestTakeOverRaceHasOneWinner: controllers racing for one expired lease: exactly one claims
// it; the others find its fresh lease.
func TestTakeOverRaceHasOneWinner(t *testing.T) {
	t.Parallel()
	d := sandboxtest.New(t)
	dead := controller(t, d, "ctl-dead", time.Second)
	m := running(t, dead, "users")
	const n = 4
	racers := make([]*Store, n)
	for i := range racers {
		racers[i] = controller(t, d, "ctl-"+string(rune('a'+i)), 30*time.Second)
	}
	require.Eventually(t, func() bool {
		ls, err := racers[0].Leftovers(t.Context(), "app")
		require.NoError(t, err)
		return len(ls) == 1
	}, time.Minute, 50*time.Millisecond)

	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, s := range racers {
		wg.Go(func() { _, errs[i] = s.TakeOver(t.Context(), m.ID) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		var alive *OwnerAliveError
		assert.ErrorAs(t, err, &alive)
	}
	assert.Equal(t, 1, won, "%v", errs)
	got, err := racers[0].Get(t.Context(), m.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(2), got.Lease.Token)
	assert.ErrorIs(t, dead.Transition(t.Context(), m.ID, migration.StatusReady, "late"), ErrFenced)
}

// TestUpgradeToLeasesKeepsRunningMigration: a state schema of the ghostgate before leases
// (version 2: owner and heartbeat) with a migration running is upgraded in place; the row keeps
// its owner, counts as live by its heartbeat as before, and its first claim gets token 1.
func TestUpgradeToLeasesKeepsRunningMigration(t *testing.T) {
	t.Parallel()
	d := sandboxtest.New(t)
	old, err := openAt(t.Context(), d.Primary, Options{Database: d.Name}, 2)
	require.NoError(t, err)
	require.Equal(t, []int{1, 2}, versionRows(t, d.Primary, d.Name))
	id, err := newID(time.Now())
	require.NoError(t, err)
	// The insert of the version-2 store.
	_, err = d.Primary.ExecContext(t.Context(), "INSERT INTO "+old.migrations+` (id, schema_name, table_name, ddl,
		strategy, status, active, created_at, updated_at, owner_host, owner_pid, heartbeat_at)
		VALUES (?, 'app', 'users', 'ALTER TABLE users ADD x INT', 'ghost', 'running', 1,
		UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), 'old-host', 77, UTC_TIMESTAMP(6))`, id)
	require.NoError(t, err)

	s := controller(t, d, "ctl-new", 5*time.Second)
	assert.Equal(t, allVersions(), versionRows(t, d.Primary, d.Name))
	m, err := s.Get(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, Owner{Host: "old-host", PID: 77}, m.Owner)
	assert.Equal(t, Lease{}, m.Lease, "no lease before the first claim")
	_, err = s.TakeOver(t.Context(), id)
	var alive *OwnerAliveError
	require.ErrorAs(t, err, &alive, "a fresh heartbeat still means a live owner")

	ageHeartbeat(t, d, s, id, time.Minute)
	got, err := s.TakeOver(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, int64(1), got.Lease.Token)
	assert.Equal(t, "ctl-new:1", got.Lease.Owner)
	require.NoError(t, s.Heartbeat(t.Context(), id))
}

// TestReleaseLeaseHandsOverAtOnce: a released lease is another controller's to claim without
// waiting for its expiry; the releaser's later writes are refused.
func TestReleaseLeaseHandsOverAtOnce(t *testing.T) {
	t.Parallel()
	d := sandboxtest.New(t)
	a := controller(t, d, "ctl-a", time.Hour)
	b := controller(t, d, "ctl-b", time.Hour)
	m := running(t, a, "users")
	assert.ErrorIs(t, b.ReleaseLease(t.Context(), m.ID, "not mine"), ErrNotOwner)
	require.NoError(t, a.ReleaseLease(t.Context(), m.ID, "shutting down"))
	got, err := b.TakeOver(t.Context(), m.ID)
	require.NoError(t, err, "no wait for the hour-long lease")
	assert.Equal(t, int64(2), got.Lease.Token)
	assert.ErrorIs(t, a.ReleaseLease(t.Context(), m.ID, "again"), ErrNotOwner)
}
