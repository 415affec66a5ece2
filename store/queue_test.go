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

func enqueue(t *testing.T, s *Store, cluster, table string) Migration {
	t.Helper()
	m, err := s.Enqueue(t.Context(), cluster, sample(table), []byte(`{"approval":"auto"}`))
	require.NoError(t, err)
	require.Equal(t, migration.StatusQueued, m.Status)
	return m
}

// TestQueueRunsInOrderOnePerTable: the queue hands out the oldest migration whose table is
// free, never more than the limit at once per cluster, never two on one table.
func TestQueueRunsInOrderOnePerTable(t *testing.T) {
	t.Parallel()
	d := sandboxtest.New(t)
	s := controller(t, d, "ctl-a", 30*time.Second)
	u1 := enqueue(t, s, "c1", "users")
	u2 := enqueue(t, s, "c1", "users") // waits for u1: one per table
	o1 := enqueue(t, s, "c1", "orders")
	other := enqueue(t, s, "c2", "users") // another cluster, another limit
	pos, err := s.QueuePosition(t.Context(), o1.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, pos)

	claim := func(cluster string, limit int) (Claimed, bool) {
		c, ok, err := s.ClaimQueued(t.Context(), cluster, limit)
		require.NoError(t, err)
		return c, ok
	}
	c, ok := claim("c1", 2)
	require.True(t, ok)
	assert.Equal(t, u1.ID, c.ID)
	assert.JSONEq(t, `{"approval":"auto"}`, string(c.Request))
	assert.Equal(t, int64(1), c.Lease.Token)
	c, ok = claim("c1", 2)
	require.True(t, ok)
	assert.Equal(t, o1.ID, c.ID, "u2 waits for its table; o1 goes ahead")
	_, ok = claim("c1", 3)
	assert.False(t, ok, "u2's table is still busy")
	c, ok = claim("c2", 1)
	require.True(t, ok)
	assert.Equal(t, other.ID, c.ID, "the same table on another cluster is another table")

	for _, id := range []string{u1.ID} {
		require.NoError(t, s.Transition(t.Context(), id, migration.StatusPlanning, "p"))
		require.NoError(t, s.Transition(t.Context(), id, migration.StatusRunning, "r"))
		require.NoError(t, s.Transition(t.Context(), id, migration.StatusComplete, "done"))
	}
	_, ok = claim("c1", 1)
	assert.False(t, ok, "o1 still runs: the limit of 1 is reached")
	c, ok = claim("c1", 2)
	require.True(t, ok)
	assert.Equal(t, u2.ID, c.ID)
}

// TestQueueLimitHoldsAcrossControllers: schedulers of several controllers racing for one
// cluster's queue never claim more than the limit.
func TestQueueLimitHoldsAcrossControllers(t *testing.T) {
	t.Parallel()
	d := sandboxtest.New(t)
	const limit = 2
	var stores []*Store
	for _, n := range []string{"ctl-a", "ctl-b", "ctl-c", "ctl-d"} {
		stores = append(stores, controller(t, d, n, 30*time.Second))
	}
	for _, tbl := range []string{"t1", "t2", "t3", "t4", "t5", "t6"} {
		enqueue(t, stores[0], "", tbl)
	}
	var mu sync.Mutex
	claimed := 0
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() {
			for range 3 {
				_, ok, err := s.ClaimQueued(t.Context(), "", limit)
				assert.NoError(t, err)
				if ok {
					mu.Lock()
					claimed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, limit, claimed)
	var active int
	require.NoError(t, d.Primary.QueryRow("SELECT COUNT(*) FROM "+stores[0].migrations+" WHERE active = 1").Scan(&active))
	assert.Equal(t, limit, active)
}

// TestQueueCancelAndRequeue: a queued migration is cancelled in place; a claimed one is not
// (its owner cancels it); a claim whose controller died before starting it goes back in line.
func TestQueueCancelAndRequeue(t *testing.T) {
	t.Parallel()
	d := sandboxtest.New(t)
	a := controller(t, d, "ctl-a", time.Second)
	b := controller(t, d, "ctl-b", 30*time.Second)
	first := enqueue(t, b, "", "users")
	second := enqueue(t, b, "", "orders")
	require.NoError(t, b.CancelQueued(t.Context(), second.ID, "cancelled by ops"))
	got, err := b.Get(t.Context(), second.ID)
	require.NoError(t, err)
	assert.Equal(t, migration.StatusCancelled, got.Status)
	assert.ErrorIs(t, b.CancelQueued(t.Context(), second.ID, "again"), ErrNotQueued)

	c, ok, err := a.ClaimQueued(t.Context(), "", 5)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, first.ID, c.ID)
	assert.ErrorIs(t, b.CancelQueued(t.Context(), first.ID, "no"), ErrNotQueued)
	var alive *OwnerAliveError
	require.ErrorAs(t, b.Requeue(t.Context(), first.ID), &alive)

	// a dies before starting it: once its lease is gone, the migration is queued again.
	require.Eventually(t, func() bool { return b.Requeue(t.Context(), first.ID) == nil }, time.Minute, 50*time.Millisecond)
	c, ok, err = b.ClaimQueued(t.Context(), "", 5)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, first.ID, c.ID)
	assert.Equal(t, int64(2), c.Lease.Token)
	assert.ErrorIs(t, a.Transition(t.Context(), first.ID, migration.StatusPlanning, "late"), ErrFenced)
}
