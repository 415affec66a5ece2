package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/migration"
)

func TestCreateRecordsQueuedMigration(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Options{})
	m, err := s.Create(t.Context(), sample("users"))
	require.NoError(t, err)
	assert.True(t, validID(m.ID))
	assert.Equal(t, migration.StatusQueued, m.Status)
	assert.Equal(t, "app", m.Schema)
	assert.Equal(t, "ghost", m.Strategy)
	assert.JSONEq(t, `{"strategy":"ghost"}`, string(m.Plan))
	assert.Equal(t, s.Owner(), m.Owner)
	assert.False(t, m.CreatedAt.IsZero())
	assert.WithinDuration(t, time.Now(), m.CreatedAt, time.Minute, "stored as UTC")
	assert.True(t, m.StartedAt.IsZero())
	assert.Nil(t, m.Progress)

	_, err = s.Get(t.Context(), "01KAMZ5Q8D7W2C3V4B5N6M7P8Q")
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = s.Create(t.Context(), NewMigration{Schema: "app", Table: "t", DDL: " ", Strategy: "ghost"})
	assert.Error(t, err, "empty DDL refused")
}

func TestTransitions(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Options{})
	tests := []struct {
		name  string
		path  []migration.Status // applied in order, all legal
		bad   migration.Status   // then this one must be refused
		final migration.Status
	}{
		{"ghost to completion", []migration.Status{"planning", "running", "ready", "cutting_over", "complete"}, "running", "complete"},
		{"native completes from running", []migration.Status{"planning", "running", "complete"}, "cancelled", "complete"},
		{"failed rename returns to gate", []migration.Status{"planning", "running", "ready", "cutting_over", "ready", "cancelled"}, "ready", "cancelled"},
		{"cannot skip planning", nil, "running", "queued"},
		{"cannot go back to queued", []migration.Status{"planning"}, "queued", "planning"},
		{"failed is final", []migration.Status{"failed"}, "planning", "failed"},
		{"unknown status", []migration.Status{"planning"}, "paused", "planning"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := s.Create(t.Context(), sample(fmt.Sprintf("t%d", i)))
			require.NoError(t, err)
			for _, to := range tt.path {
				require.NoError(t, s.Transition(t.Context(), m.ID, to, "step to "+string(to)))
			}
			err = s.Transition(t.Context(), m.ID, tt.bad, "illegal")
			var te *migration.TransitionError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tt.bad, te.To)
			got, err := s.Get(t.Context(), m.ID)
			require.NoError(t, err)
			assert.Equal(t, tt.final, got.Status, "a refused move changes nothing")
			assert.Equal(t, len(tt.path) > 2, !got.StartedAt.IsZero(), "started once running")
			assert.Equal(t, tt.final.Terminal(), !got.FinishedAt.IsZero())
		})
	}
	err := s.Transition(t.Context(), "01KAMZ5Q8D7W2C3V4B5N6M7P8Q", migration.StatusPlanning, "x")
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestConcurrentTransitionsFromSameStatusOneWins(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Options{})
	m, err := s.Create(t.Context(), sample("race"))
	require.NoError(t, err)
	require.NoError(t, s.Transition(t.Context(), m.ID, migration.StatusPlanning, "plan"))
	// Several controllers race to start the same migration: the row lock lets exactly one move it.
	const n = 5
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Transition(t.Context(), m.ID, migration.StatusRunning, fmt.Sprintf("worker %d", i))
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		var te *migration.TransitionError
		if err == nil {
			won++
		} else {
			require.ErrorAs(t, err, &te)
		}
	}
	assert.Equal(t, 1, won)
	evs, err := s.Events(t.Context(), m.ID, 0, 0)
	require.NoError(t, err)
	assert.Len(t, evs, 3, "created, planning, one running")
}

func TestFailRecordsError(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Options{})
	m, err := s.Create(t.Context(), sample("users"))
	require.NoError(t, err)
	require.NoError(t, s.Transition(t.Context(), m.ID, migration.StatusPlanning, "plan"))
	require.NoError(t, s.Fail(t.Context(), m.ID, errors.New("probe refused: ALGORITHM=INSTANT is not supported")))
	got, err := s.Get(t.Context(), m.ID)
	require.NoError(t, err)
	assert.Equal(t, migration.StatusFailed, got.Status)
	assert.Contains(t, got.Error, "ALGORITHM=INSTANT")
	assert.Error(t, s.Fail(t.Context(), m.ID, errors.New("again")), "an ended migration cannot fail again")
}

func TestEventsAreOrderedAndPaged(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Options{})
	m, err := s.Create(t.Context(), sample("users"))
	require.NoError(t, err)
	other, err := s.Create(t.Context(), sample("orders"))
	require.NoError(t, err)
	require.NoError(t, s.Transition(t.Context(), m.ID, migration.StatusPlanning, "planning"))
	require.NoError(t, s.AddEvent(t.Context(), other.ID, EventNote, "other migration", nil))
	require.NoError(t, s.Transition(t.Context(), m.ID, migration.StatusRunning, "copy starts"))
	require.NoError(t, s.AddEvent(t.Context(), m.ID, EventThrottle, "throttled", map[string]string{"reason": "replica_lag"}))
	require.NoError(t, s.AddEvent(t.Context(), m.ID, EventCutOverAttempt, "attempt 1", map[string]any{"ok": false}))

	evs, err := s.Events(t.Context(), m.ID, 0, 0)
	require.NoError(t, err)
	var kinds []EventKind
	for i, e := range evs {
		kinds = append(kinds, e.Kind)
		assert.Equal(t, m.ID, e.MigrationID)
		if i > 0 {
			assert.Greater(t, e.ID, evs[i-1].ID)
			assert.False(t, e.Time.Before(evs[i-1].Time), "time never goes back")
		}
	}
	assert.Equal(t, []EventKind{EventCreated, EventTransition, EventTransition, EventThrottle, EventCutOverAttempt}, kinds)
	var tr map[string]string
	require.NoError(t, json.Unmarshal(evs[2].Data, &tr))
	assert.Equal(t, map[string]string{"from": "planning", "to": "running"}, tr)
	assert.Equal(t, "copy starts", evs[2].Message)
	assert.JSONEq(t, `{"reason":"replica_lag"}`, string(evs[3].Data))

	page, err := s.Events(t.Context(), m.ID, evs[1].ID, 2)
	require.NoError(t, err)
	require.Len(t, page, 2)
	assert.Equal(t, evs[2].ID, page[0].ID)
	assert.Equal(t, evs[3].ID, page[1].ID)

	assert.Error(t, s.AddEvent(t.Context(), m.ID, "Bad Kind", "x", nil))
	assert.ErrorIs(t, s.AddEvent(t.Context(), "01KAMZ5Q8D7W2C3V4B5N6M7P8Q", EventNote, "x", nil), ErrNotFound)
}

// EventsOf reads every event of the kinds asked for, in order, past the page size of Events: a
// resume reads its engine and tuning events back from a log of thousands of throttle notes.
func TestEventsOfKinds(t *testing.T) {
	t.Parallel()
	s, d := newStore(t, Options{})
	m, err := s.Create(t.Context(), sample("users"))
	require.NoError(t, err)
	other, err := s.Create(t.Context(), sample("orders"))
	require.NoError(t, err)
	require.NoError(t, s.AddEvent(t.Context(), m.ID, EventEngine, "worker started", map[string]int{"inspector_server_id": 1}))
	require.NoError(t, s.AddEvent(t.Context(), other.ID, EventTuning, "chunk size set to 7", map[string]int{"chunk_size": 7}))
	// 1500 throttle notes in one statement (AddEvent would take a transaction each).
	_, err = d.Primary.Exec("INSERT INTO "+s.events+" (migration_id, at, kind, message) "+
		"SELECT ?, UTC_TIMESTAMP(6), 'throttle', CONCAT('throttle ', seq) FROM seq_1_to_1500", m.ID)
	require.NoError(t, err)
	require.NoError(t, s.AddEvent(t.Context(), m.ID, EventTuning, "chunk size set to 10", map[string]int{"chunk_size": 10}))
	require.NoError(t, s.AddEvent(t.Context(), m.ID, EventTuning, "nice ratio set to 2", map[string]float64{"nice_ratio": 2}))

	page, err := s.Events(t.Context(), m.ID, 0, 1000)
	require.NoError(t, err)
	require.Len(t, page, 1000, "a page ends before the tunings")

	evs, err := s.EventsOf(t.Context(), m.ID, EventEngine, EventTuning)
	require.NoError(t, err)
	var msgs []string
	for _, e := range evs {
		assert.Equal(t, m.ID, e.MigrationID)
		msgs = append(msgs, e.Message)
	}
	assert.Equal(t, []string{"worker started", "chunk size set to 10", "nice ratio set to 2"}, msgs)
	assert.JSONEq(t, `{"nice_ratio":2}`, string(evs[2].Data))
	none, err := s.EventsOf(t.Context(), m.ID)
	require.NoError(t, err)
	assert.Empty(t, none)
}

func TestSaveProgressAndHeartbeat(t *testing.T) {
	t.Parallel()
	s, d := newStore(t, Options{})
	m, err := s.Create(t.Context(), sample("users"))
	require.NoError(t, err)
	p := migration.Progress{Time: time.Now().UTC().Truncate(time.Microsecond), Phase: migration.PhaseCopying,
		RowsCopied: 500, RowsEstimated: 1000, Ratio: 0.5, ETA: 3 * time.Second, ReplicaLag: 120 * time.Millisecond,
		Throttled: true, ThrottleReason: "replica_lag"}
	require.NoError(t, s.SaveProgress(t.Context(), m.ID, p))
	got, err := s.Get(t.Context(), m.ID)
	require.NoError(t, err)
	require.NotNil(t, got.Progress)
	assert.True(t, p.Time.Equal(got.Progress.Time))
	got.Progress.Time = p.Time
	assert.Equal(t, p, *got.Progress)

	before := got.HeartbeatAt
	time.Sleep(2 * time.Millisecond)
	require.NoError(t, s.Heartbeat(t.Context(), m.ID))
	got, err = s.Get(t.Context(), m.ID)
	require.NoError(t, err)
	assert.True(t, got.HeartbeatAt.After(before))

	other := openOn(t, d, Options{Owner: Owner{Host: "elsewhere", PID: 7}})
	assert.ErrorIs(t, other.Heartbeat(t.Context(), m.ID), ErrNotOwner)
	require.NoError(t, s.Transition(t.Context(), m.ID, migration.StatusCancelled, "user"))
	assert.ErrorIs(t, s.Heartbeat(t.Context(), m.ID), ErrNotActive)
	assert.ErrorIs(t, s.SaveProgress(t.Context(), "01KAMZ5Q8D7W2C3V4B5N6M7P8Q", p), ErrNotFound)
}

func TestOneActiveMigrationPerTable(t *testing.T) {
	t.Parallel()
	s, d := newStore(t, Options{})
	first, err := s.Create(t.Context(), sample("users"))
	require.NoError(t, err)

	// Another controller is refused by the database, with the holder named.
	other := openOn(t, d, Options{Owner: Owner{Host: "elsewhere", PID: 7}})
	_, err = other.Create(t.Context(), sample("users"))
	var ae *ActiveMigrationError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, ActiveMigrationError{Schema: "app", Table: "users", ID: first.ID, Status: migration.StatusQueued}, *ae)
	assert.Contains(t, err.Error(), "`app`.`users` already has an active migration "+first.ID)

	_, err = s.Create(t.Context(), sample("Users"))
	require.NoError(t, err, "table names are case-sensitive")
	_, err = s.Create(t.Context(), sample("orders"))
	require.NoError(t, err, "another table is free")

	require.NoError(t, s.Transition(t.Context(), first.ID, migration.StatusCancelled, "user"))
	second, err := s.Create(t.Context(), sample("users"))
	require.NoError(t, err, "an ended migration frees its table")
	require.NoError(t, s.Transition(t.Context(), second.ID, migration.StatusFailed, "boom"))
	_, err = s.Create(t.Context(), sample("users"))
	require.NoError(t, err, "ended migrations never collide with each other")

	active, err := s.List(t.Context(), Filter{ActiveOnly: true, Table: "users"})
	require.NoError(t, err)
	assert.Len(t, active, 1)
	all, err := s.List(t.Context(), Filter{Table: "users"})
	require.NoError(t, err)
	assert.Len(t, all, 3)
	ended, err := s.List(t.Context(), Filter{Status: []migration.Status{migration.StatusCancelled, migration.StatusFailed}})
	require.NoError(t, err)
	require.Len(t, ended, 2)
	assert.Equal(t, first.ID, ended[0].ID, "oldest first")
	last, err := s.List(t.Context(), Filter{Limit: 1})
	require.NoError(t, err)
	require.Len(t, last, 1)
	assert.Equal(t, all[2].ID, last[0].ID, "limit keeps the newest")
}

func TestConcurrentCreatesOneWins(t *testing.T) {
	t.Parallel()
	s, d := newStore(t, Options{})
	const n = 8
	stores := make([]*Store, n)
	for i := range stores {
		stores[i] = openOn(t, d, Options{Owner: Owner{Host: "controller", PID: 100 + i}})
	}
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			m, err := stores[i].Create(t.Context(), sample("users"))
			ids[i], errs[i] = m.ID, err
		}()
	}
	close(start)
	wg.Wait()
	winner := ""
	for i, err := range errs {
		if err == nil {
			require.Empty(t, winner, "two creates won")
			winner = ids[i]
		}
	}
	require.NotEmpty(t, winner)
	for _, err := range errs {
		if err != nil {
			var ae *ActiveMigrationError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, winner, ae.ID)
		}
	}
	active, err := s.List(t.Context(), Filter{ActiveOnly: true})
	require.NoError(t, err)
	require.Len(t, active, 1)
	assert.Equal(t, winner, active[0].ID)
}
