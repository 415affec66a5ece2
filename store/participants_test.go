package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Two controllers on one state database: a registration made through one is read by the other,
// the bound is the fleet's, a heartbeat through either renews it, and a replaced registration
// forgets the phases handed to the earlier one.
func TestParticipantsShared(t *testing.T) {
	ctx := t.Context()
	a, d := newStore(t, Options{Owner: Owner{Host: "ctl-a", PID: 1}})
	b := openOn(t, d, Options{Owner: Owner{Host: "ctl-b", PID: 2}})
	reg := []byte(`{"service":"s","instance_id":"i-1"}`)
	require.NoError(t, a.RegisterParticipant(ctx, ParticipantRecord{InstanceID: "i-1", Generation: 7, Registration: reg}, time.Minute, 2, time.Hour))
	require.NoError(t, b.RegisterParticipant(ctx, ParticipantRecord{InstanceID: "i-2", Generation: 8, Registration: reg}, time.Minute, 2, time.Hour))
	err := a.RegisterParticipant(ctx, ParticipantRecord{InstanceID: "i-3", Generation: 9, Registration: reg}, time.Minute, 2, time.Hour)
	require.ErrorIs(t, err, ErrTooManyParticipants, "the bound counts the whole fleet's registrations")
	require.NoError(t, a.RegisterParticipant(ctx, ParticipantRecord{InstanceID: "i-2", Generation: 10, Registration: reg}, time.Minute, 2, time.Hour),
		"a known id may register again at the bound")

	rows, err := b.Participants(ctx, time.Hour)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.Equal(t, "ctl-a:1", rows[0].Controller)
	require.Equal(t, "ctl-a:1", rows[1].Controller, "i-2 moved to A")
	require.Equal(t, int64(10), rows[1].Generation)
	require.Greater(t, rows[0].LeaseLeft, 50*time.Second)

	found, err := b.BeatParticipant(ctx, "i-1", []byte(`{"instance_id":"i-1"}`), 2*time.Minute)
	require.NoError(t, err)
	require.True(t, found)
	p, ok, err := a.Participant(ctx, "i-1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Greater(t, p.LeaseLeft, 110*time.Second, "renewed through B")
	require.JSONEq(t, `{"instance_id":"i-1"}`, string(p.Heartbeat))
	found, err = b.BeatParticipant(ctx, "nobody", nil, time.Minute)
	require.NoError(t, err)
	require.False(t, found)

	// Lapsed only: the gate's eviction by policy leaves a live registration alone.
	removed, err := b.RemoveParticipant(ctx, "i-1", 7, true)
	require.NoError(t, err)
	require.False(t, removed)
	removed, err = b.RemoveParticipant(ctx, "i-1", 0, false)
	require.NoError(t, err)
	require.True(t, removed)
	_, ok, err = a.Participant(ctx, "i-1")
	require.NoError(t, err)
	require.False(t, ok)
}

// A phase handed by A's gate to B for a signal-mode instance: B lists it to signal, any
// controller serves it as pending, the ack (through any controller) is applied once, repeated
// acks change nothing, and A takes it exactly once.
func TestPhaseAckAppliedOnce(t *testing.T) {
	ctx := t.Context()
	a, d := newStore(t, Options{Owner: Owner{Host: "ctl-a", PID: 1}})
	b := openOn(t, d, Options{Owner: Owner{Host: "ctl-b", PID: 2}})
	c := openOn(t, d, Options{Owner: Owner{Host: "ctl-c", PID: 3}})
	require.NoError(t, b.RegisterParticipant(ctx, ParticipantRecord{InstanceID: "i-1", Generation: 1, Registration: []byte(`{}`)}, time.Minute, 10, time.Hour))
	ph := PhaseRecord{InstanceID: "i-1", MigrationID: "M1", Controller: b.ControllerID(), Phase: "prepare", Attempt: 1, Request: []byte(`{"phase":"prepare"}`)}
	require.NoError(t, a.PostPhase(ctx, ph))

	list, err := b.PhasesToSignal(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "ctl-a:1", list[0].Owner)
	require.Equal(t, 0, list[0].Signalled)
	require.NoError(t, b.MarkSignalled(ctx, "i-1", "M1", 1))
	list, err = c.PhasesToSignal(ctx)
	require.NoError(t, err)
	require.Empty(t, list, "handed to B, not to C")
	pend, ok, err := c.PendingPhase(ctx, "i-1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "prepare", pend.Phase)

	_, err = c.AckPhase(ctx, "i-1", "M1", "commit", []byte(`{}`))
	require.ErrorIs(t, err, ErrPhaseNotPending, "an ack of a phase not handed")
	applied, err := c.AckPhase(ctx, "i-1", "M1", "prepare", []byte(`{"ready":true}`))
	require.NoError(t, err)
	require.True(t, applied)
	applied, err = b.AckPhase(ctx, "i-1", "M1", "prepare", []byte(`{"ready":false}`))
	require.NoError(t, err)
	require.False(t, applied, "a repeated ack (through another controller) is accepted and changes nothing")

	acks, err := b.TakeAcks(ctx)
	require.NoError(t, err)
	require.Empty(t, acks, "only the owner of the delivery takes its acks")
	acks, err = a.TakeAcks(ctx)
	require.NoError(t, err)
	require.Len(t, acks, 1)
	require.JSONEq(t, `{"ready":true}`, string(acks[0].Ack), "the first ack, not the repeat")
	acks, err = a.TakeAcks(ctx)
	require.NoError(t, err)
	require.Empty(t, acks, "taken once")
	_, ok, err = c.PendingPhase(ctx, "i-1")
	require.NoError(t, err)
	require.False(t, ok)

	// A re-delivery (attempt 2) of a phase whose ack was taken asks again; one sent while the
	// ack was on its way (not taken yet) keeps it; re-registering forgets the phase.
	ph.Attempt = 2
	require.NoError(t, a.PostPhase(ctx, ph))
	_, ok, err = c.PendingPhase(ctx, "i-1")
	require.NoError(t, err)
	require.True(t, ok, "taken, then asked again")
	applied, err = b.AckPhase(ctx, "i-1", "M1", "prepare", []byte(`{"ready":true,"n":2}`))
	require.NoError(t, err)
	require.True(t, applied)
	ph.Attempt = 3
	require.NoError(t, a.PostPhase(ctx, ph))
	_, ok, err = c.PendingPhase(ctx, "i-1")
	require.NoError(t, err)
	require.False(t, ok, "the ack not taken yet answers the re-delivery")
	acks, err = a.TakeAcks(ctx)
	require.NoError(t, err)
	require.Len(t, acks, 1)
	require.JSONEq(t, `{"ready":true,"n":2}`, string(acks[0].Ack))
	require.Equal(t, 3, acks[0].Attempt)
	ph.Phase, ph.Attempt = "commit", 1
	require.NoError(t, a.PostPhase(ctx, ph))
	pend, ok, err = c.PendingPhase(ctx, "i-1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "commit", pend.Phase, "another phase replaces the acked one")
	require.NoError(t, c.RegisterParticipant(ctx, ParticipantRecord{InstanceID: "i-1", Generation: 2, Registration: []byte(`{}`)}, time.Minute, 10, time.Hour))
	_, ok, err = b.PendingPhase(ctx, "i-1")
	require.NoError(t, err)
	require.False(t, ok)
}

// The owner of a migration, as a stale prepare's check asks it: the live owner's id, none for
// an unknown id.
func TestMigrationOwner(t *testing.T) {
	ctx := t.Context()
	a, d := newStore(t, Options{Owner: Owner{Host: "ctl-a", PID: 1}})
	b := openOn(t, d, Options{Owner: Owner{Host: "ctl-b", PID: 2}})
	m, err := a.Create(ctx, sample("orders"))
	require.NoError(t, err)
	owner, live, err := b.MigrationOwner(ctx, m.ID)
	require.NoError(t, err)
	require.True(t, live)
	require.Equal(t, a.ControllerID(), owner)
	_, live, err = b.MigrationOwner(ctx, "not-a-migration")
	require.NoError(t, err)
	require.False(t, live)
}

// The phases table stays small: a phase handed for a new migration drops the taken ones of
// earlier migrations of the instance, and a dropped registration takes its phases along.
func TestPhasesDoNotPileUp(t *testing.T) {
	ctx := t.Context()
	a, d := newStore(t, Options{Owner: Owner{Host: "ctl-a", PID: 1}})
	count := func() int {
		var n int
		require.NoError(t, d.Primary.QueryRow("SELECT COUNT(*) FROM "+qualify(d.Name, "participant_phases")).Scan(&n))
		return n
	}
	require.NoError(t, a.RegisterParticipant(ctx, ParticipantRecord{InstanceID: "i-1", Generation: 1, Registration: []byte(`{}`)}, time.Minute, 10, time.Hour))
	for _, m := range []string{"M1", "M2", "M3"} {
		require.NoError(t, a.PostPhase(ctx, PhaseRecord{InstanceID: "i-1", MigrationID: m, Controller: "x", Phase: "commit", Attempt: 1, Request: []byte(`{}`)}))
		_, err := a.AckPhase(ctx, "i-1", m, "commit", []byte(`{}`))
		require.NoError(t, err)
		_, err = a.TakeAcks(ctx)
		require.NoError(t, err)
	}
	require.Equal(t, 1, count(), "only the last migration's row is kept")
	require.NoError(t, a.RegisterParticipant(ctx, ParticipantRecord{InstanceID: "i-2", Generation: 2, Registration: []byte(`{}`)}, -time.Hour, 10, time.Hour))
	require.NoError(t, a.PostPhase(ctx, PhaseRecord{InstanceID: "i-2", MigrationID: "M1", Controller: "x", Phase: "prepare", Attempt: 1, Request: []byte(`{}`)}))
	require.Equal(t, 2, count())
	// i-2's lease lapsed an hour ago, the expiry: the next registration drops it.
	require.NoError(t, a.RegisterParticipant(ctx, ParticipantRecord{InstanceID: "i-3", Generation: 3, Registration: []byte(`{}`)}, time.Minute, 10, time.Hour))
	require.Equal(t, 1, count(), "i-2's phase went with it")
}
