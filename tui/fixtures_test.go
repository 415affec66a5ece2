package tui

import (
	"time"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner/throttle"
	"github.com/ghostgate/ghostgate/store"
	"github.com/ghostgate/ghostgate/wire"
)

// The fixtures: one migration of shop.orders seen at the moments the golden files show.

var fixedNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

const ordersID = "01JTB6W0000000000ORDERS01"

func baseView() client.MigrationView {
	return client.MigrationView{
		Migration: store.Migration{ID: ordersID, Schema: "shop", Table: "orders",
			DDL: "ALTER TABLE orders MODIFY qty BIGINT NOT NULL", Strategy: "ghost",
			Status: migration.StatusRunning, CreatedAt: fixedNow.Add(-95 * time.Second),
			StartedAt: fixedNow.Add(-94 * time.Second)},
		Live: true, Approval: "manual",
		Throttle: &throttle.Decision{},
		Participants: []wire.ParticipantStatus{
			{Service: "orders-api", InstanceID: "api-7f3a", Host: "web-1", Mode: wire.ModeHTTP,
				LastBeat: fixedNow.Add(-2 * time.Second), Live: true},
			{Service: "orders-api", InstanceID: "api-c41d", Host: "web-2", Mode: wire.ModeSignal,
				LastBeat: fixedNow.Add(-3 * time.Second), Live: true},
		},
	}
}

func copyingProgress(i int) *migration.Progress {
	copied := int64(1_000_000 + i*25_000)
	return &migration.Progress{Time: fixedNow.Add(time.Duration(i-20) * time.Second), Phase: migration.PhaseCopying,
		RowsCopied: copied, RowsEstimated: 2_360_000, RowsPerSecond: float64(9_000 + (i%7)*900),
		Ratio: migration.ClampRatio(copied, 2_360_000), ETA: 91 * time.Second,
		ReplicaLag: time.Duration(40+(i%5)*30) * time.Millisecond}
}

// copyingView is the migration in the middle of its copy.
func copyingView() client.MigrationView {
	v := baseView()
	v.Progress = copyingProgress(20)
	return v
}

// throttledView is the copy held back by replica lag.
func throttledView() client.MigrationView {
	v := copyingView()
	v.Progress.Throttled, v.Progress.RowsPerSecond = true, 0
	v.Progress.ThrottleReason = "replica 127.0.0.1:13307 lag 2140ms > 1500ms"
	v.Progress.ReplicaLag = 2140 * time.Millisecond
	v.Throttle = &throttle.Decision{Throttle: true, Source: throttle.SourceReplicaLag,
		Reason: "replica 127.0.0.1:13307 lag 2140ms > 1500ms", Subject: "127.0.0.1:13307",
		Value: 2140, Limit: 1500, Since: fixedNow.Add(-12 * time.Second)}
	return v
}

// gateView is the copy done, waiting at the gate: a long transaction and a dead participant
// hold it closed, and nobody approved yet.
func gateView() client.MigrationView {
	v := baseView()
	v.Status = migration.StatusReady
	v.Progress = &migration.Progress{Time: fixedNow, Phase: migration.PhasePostponing, RowsCopied: 2_412_330,
		RowsEstimated: 2_360_000, Ratio: 1, BacklogEvents: 3, ReplicaLag: 90 * time.Millisecond}
	v.Participants[0].Phase, v.Participants[0].Acked, v.Participants[0].Ready = wire.PhasePrepare, true, true
	v.Participants[1].Phase, v.Participants[1].Live = wire.PhasePrepare, false
	v.Participants[1].LastBeat = fixedNow.Add(-47 * time.Second)
	v.Checklist = &cutover.Checklist{MigrationID: ordersID, Schema: "shop", Table: "orders", Time: fixedNow,
		Lines: []cutover.Line{
			{Name: cutover.LineEngine, OK: true, Value: "ready", Limit: "copy complete, postponing cut-over"},
			{Name: cutover.LineBacklog, OK: true, Value: "3", Limit: "<= 1000 events"},
			{Name: cutover.LineReplicaLag, OK: true, Value: "90ms", Limit: "<= 1s"},
			{Name: cutover.LineThreadsRunning, OK: true, Value: "4", Limit: "<= 25"},
			{Name: cutover.LineQPS, OK: true, Value: "1.1x", Limit: "<= 1.5x"},
			{Name: cutover.LineTransactions, OK: false, Value: "48s", Limit: "<= 10s",
				Detail: "connection 4711 (app@10.0.0.7) open for 48s"},
			{Name: cutover.LineMDLWaiters, OK: true, Value: "0", Limit: "0"},
			{Name: cutover.LineChecksum, OK: true, Value: "match", Limit: "equal"},
			{Name: cutover.LineParticipants, OK: false, Value: "1/2", Limit: "all ready"},
			{Name: cutover.LineApproval, OK: false, Value: "not approved", Limit: "manual"},
		}}
	return v
}

// doneView is the migration after its cut-over.
func doneView() client.MigrationView {
	v := gateView()
	v.Status, v.Live = migration.StatusComplete, false
	v.FinishedAt = v.StartedAt.Add(192 * time.Second)
	v.Progress.Phase, v.Progress.BacklogEvents = migration.PhaseDone, 0
	v.Participants = nil
	v.Checklist.Open, v.Checklist.Closed = true, ""
	for i := range v.Checklist.Lines {
		v.Checklist.Lines[i].OK, v.Checklist.Lines[i].Detail = true, ""
	}
	v.Checklist.Lines[5].Value = "0s"
	v.Checklist.Lines[8].Value = "2/2"
	v.Checklist.Lines[9].Value = "approved"
	return v
}

// listViews are several migrations in different states.
func listViews() []client.MigrationView {
	customers := baseView()
	customers.ID, customers.Table, customers.Strategy = "01JTB5Q0000000000CUSTOMR1", "customers", "instant"
	customers.Status, customers.Live, customers.Approval = migration.StatusComplete, false, ""
	customers.Progress = &migration.Progress{Phase: migration.PhaseDone, Ratio: 1}
	items := throttledView()
	items.ID, items.Table = "01JTB6X0000000000ITEMS001", "order_items"
	items.Progress.ETA = 8*time.Minute + 20*time.Second
	events := baseView()
	events.ID, events.Table, events.Status = "01JTB6Y0000000000EVENTS01", "events", migration.StatusFailed
	events.Error = "critical load Threads_running=80 held 10s"
	return []client.MigrationView{customers, copyingView(), items, gateView(), events}
}

// orderEvents is the event log of shop.orders.
func orderEvents() []store.Event {
	at := func(s int) time.Time { return fixedNow.Add(time.Duration(s-95) * time.Second) }
	return []store.Event{
		{ID: 1, MigrationID: ordersID, Time: at(0), Kind: store.EventCreated, Message: "created by api (127.0.0.1)"},
		{ID: 2, MigrationID: ordersID, Time: at(1), Kind: store.EventTransition, Message: "queued → planning"},
		{ID: 3, MigrationID: ordersID, Time: at(1), Kind: store.EventTransition, Message: "planning → running: gh-ost (no shared online ALTER for MODIFY int→bigint)"},
		{ID: 4, MigrationID: ordersID, Time: at(40), Kind: store.EventThrottle, Message: "throttled: replica 127.0.0.1:13307 lag 2140ms > 1500ms"},
		{ID: 5, MigrationID: ordersID, Time: at(52), Kind: store.EventThrottle, Message: "throttle lifted after 12s"},
		{ID: 6, MigrationID: ordersID, Time: at(90), Kind: store.EventTransition, Message: "running → ready: copy complete, waiting at the gate"},
		{ID: 7, MigrationID: ordersID, Time: at(92), Kind: store.EventBlocker, Message: "connection 4711 (app@10.0.0.7) open for 48s"},
	}
}
