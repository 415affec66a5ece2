package store

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// TestCommandIsClaimedOnce: a command handed to the owner through the state database is
// claimed exactly once, however many pollers race for it; the receiver reads the outcome.
func TestCommandIsClaimedOnce(t *testing.T) {
	t.Parallel()
	d := sandboxtest.New(t)
	owner := controller(t, d, "ctl-a", 30*time.Second)
	other := controller(t, d, "ctl-b", 30*time.Second)
	m := running(t, owner, "users")

	cmd, err := other.SubmitCommand(t.Context(), m.ID, "approve", map[string]string{"x": "y"}, "ops")
	require.NoError(t, err)
	pending, err := owner.PendingCommands(t.Context(), []string{m.ID})
	require.NoError(t, err)
	require.Len(t, pending, 1)
	assert.Equal(t, Command{ID: cmd, MigrationID: m.ID, Op: "approve", Args: []byte(`{"x":"y"}`), By: "ops", From: "ctl-b:1",
		CreatedAt: pending[0].CreatedAt}, pending[0])

	const pollers = 5
	won := make([]bool, pollers)
	var wg sync.WaitGroup
	for i := range pollers {
		wg.Go(func() {
			var err error
			won[i], err = owner.ClaimCommand(t.Context(), m.ID, cmd)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	n := 0
	for _, w := range won {
		if w {
			n++
		}
	}
	assert.Equal(t, 1, n, "claimed exactly once")
	pending, err = owner.PendingCommands(t.Context(), []string{m.ID})
	require.NoError(t, err)
	assert.Empty(t, pending)

	require.NoError(t, owner.FinishCommand(t.Context(), cmd, assert.AnError))
	got, err := other.Command(t.Context(), cmd)
	require.NoError(t, err)
	assert.True(t, got.Done())
	assert.Equal(t, "ctl-a:1", got.ConsumedBy)
	assert.Equal(t, assert.AnError.Error(), got.Error)
	_, err = other.Command(t.Context(), cmd+1000)
	assert.ErrorIs(t, err, ErrCommandGone)
}

// TestStaleOwnerCannotClaimCommand: once the migration was taken over, the old owner's claim of
// a pending command is refused by the fencing token; the new owner gets it.
func TestStaleOwnerCannotClaimCommand(t *testing.T) {
	t.Parallel()
	d := sandboxtest.New(t)
	a := controller(t, d, "ctl-a", time.Second)
	b := controller(t, d, "ctl-b", time.Second)
	m := running(t, a, "users")
	live, ok, err := b.OwnerLive(t.Context(), m.ID)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, Owner{Host: "ctl-a", PID: 1}, live)

	cmd, err := b.SubmitCommand(t.Context(), m.ID, "cancel", nil, "ops")
	require.NoError(t, err)
	takeOverWhenExpired(t, b, m.ID)
	_, err = a.ClaimCommand(t.Context(), m.ID, cmd)
	require.ErrorIs(t, err, ErrFenced)
	claimed, err := b.ClaimCommand(t.Context(), m.ID, cmd)
	require.NoError(t, err)
	assert.True(t, claimed)
}

// TestStaleListsExpiredLeases: Stale lists exactly the active migrations whose lease expired.
func TestStaleListsExpiredLeases(t *testing.T) {
	t.Parallel()
	d := sandboxtest.New(t)
	short := controller(t, d, "ctl-short", time.Second)
	long := controller(t, d, "ctl-long", time.Minute)
	gone := running(t, short, "users")
	running(t, long, "orders")
	require.Eventually(t, func() bool {
		ms, err := long.Stale(t.Context())
		require.NoError(t, err)
		return len(ms) == 1 && ms[0].ID == gone.ID
	}, time.Minute, 50*time.Millisecond)
	_, ok, err := long.OwnerLive(t.Context(), gone.ID)
	require.NoError(t, err)
	assert.False(t, ok)
}
