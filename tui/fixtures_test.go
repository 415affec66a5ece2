package tui

import (
	"time"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/runner/throttle"
	"github.com/ghostgate/ghostgate/store"
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
	v.Progress.ETAState = migration.ETAKnown
	v.Progress.ChunkSize, v.Progress.ChunkReason = 7196, "grow: 3598 rows took 110ms < 500ms target"
	return v
}

// throttledView is the copy held back by replica lag.
func throttledView() client.MigrationView {
	v := copyingView()
	v.Progress.Throttled, v.Progress.RowsPerSecond = true, 0
	v.Progress.ETAState, v.Progress.ETA = migration.ETAHeld, 0
	v.Progress.ChunkSize, v.Progress.ChunkReason = 3598, "shrink_throttle: halved on throttle (replica_lag)"
	v.Progress.ThrottleReason = "replica 127.0.0.1:13307 lag 2140ms > 1500ms"
	v.Progress.ReplicaLag = 2140 * time.Millisecond
	v.Throttle = &throttle.Decision{Throttle: true, Source: throttle.SourceReplicaLag,
		Reason: "replica 127.0.0.1:13307 lag 2140ms > 1500ms", Subject: "127.0.0.1:13307",
		Value: 2140, Limit: 1500, Since: fixedNow.Add(-12 * time.Second)}
	return v
}

// serviceHeldView is the copy held back by a service's own health (issue 12): one instance's
// p99 rose far above its service's baseline.
func serviceHeldView() client.MigrationView {
	v := throttledView()
	v.Progress.ReplicaLag = 80 * time.Millisecond
	v.Progress.ChunkReason = "shrink_throttle: halved on throttle (service_health)"
	reason := "service orders-api p99 412ms > 3.0× baseline 38ms (instance api-7f3a)"
	v.Progress.ThrottleReason = reason
	v.Throttle = &throttle.Decision{Throttle: true, Source: throttle.SourceServiceHealth, Reason: reason,
		Subject: "orders-api", Value: 412, Limit: 114, Since: fixedNow.Add(-3 * time.Second)}
	return v
}

// gateView is the copy done, waiting at the gate before approval: a long transaction holds
// it closed, the checksum is still running, nobody approved yet, so no participant was asked;
// one participant's lease lapsed, which is a failure of its own.
func gateView() client.MigrationView {
	v := gateFreshView()
	v.Participants[1].Live = false
	v.Participants[1].LastBeat = fixedNow.Add(-47 * time.Second)
	v.Checklist.Lines[8] = cutover.Line{Name: cutover.LineParticipants, OK: false, Value: "0/2 ready",
		Limit:  "every live instance acknowledged prepare",
		Detail: "orders-api/api-c41d@web-2 (signal): lease lapsed, last heartbeat 47s ago; orders-api/api-7f3a@web-1 (http): prepare held until the other conditions hold"}
	return v
}

// gateFreshView is the migration at the gate before approval with every participant live:
// they are not asked yet (prepare goes out once every other condition holds).
func gateFreshView() client.MigrationView {
	v := baseView()
	v.Status = migration.StatusReady
	v.ChunkSize = 0
	v.Progress = &migration.Progress{Time: fixedNow, Phase: migration.PhasePostponing, RowsCopied: 2_412_330,
		RowsEstimated: 2_360_000, Ratio: 1, BacklogEvents: 3, ReplicaLag: 90 * time.Millisecond}
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
			{Name: cutover.LineChecksum, OK: false, Pending: true, Value: "running: 212 chunks, 212,000 rows", Limit: "all chunks match"},
			{Name: cutover.LineParticipants, OK: false, Pending: true, Value: "not asked yet",
				Limit:  "every live instance acknowledged prepare",
				Detail: "orders-api/api-7f3a@web-1 (http): prepare held until the other conditions hold; orders-api/api-c41d@web-2 (signal): prepare held until the other conditions hold"},
			{Name: cutover.LineApproval, OK: false, Value: "not approved", Limit: "manual"},
		}}
	return v
}

// cancelledView is the migration after a DBA cancelled it at the gate.
func cancelledView() client.MigrationView {
	v := gateFreshView()
	v.Status, v.Live, v.Throttle = migration.StatusCancelled, false, nil
	v.FinishedAt = fixedNow
	v.Error = "cancelled by dba@bastion (token ops, 10.0.4.2)"
	v.Checklist.Closed = "cancelled"
	return v
}

// failedView is the migration after gh-ost refused to start.
func failedView() client.MigrationView {
	v := baseView()
	v.Status, v.Live, v.Throttle = migration.StatusFailed, false, nil
	v.FinishedAt = fixedNow
	v.Error = "ghost: shop.orders has leftovers of an earlier gh-ost run: _orders_gho, _orders_ghc; inspect them and drop them to continue"
	return v
}

// interruptedView is the migration whose controller died while it waited at the gate: the
// store still says ready, nobody runs it.
func interruptedView() client.MigrationView {
	v := baseView()
	v.Status, v.Live, v.Throttle, v.Approval = migration.StatusReady, false, nil, ""
	v.Progress = &migration.Progress{Time: fixedNow.Add(-3 * time.Minute), Phase: migration.PhasePostponing,
		RowsCopied: 2_412_330, RowsEstimated: 2_360_000, Ratio: 1}
	v.Interrupted = true
	v.Reason = "migration " + ordersID + " is marked ready but its owner db-admin-3 pid 48213 stopped heartbeating 3m ago"
	v.Cleanup = "migrate cleanup --migration " + ordersID
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
		v.Checklist.Lines[i].OK, v.Checklist.Lines[i].Detail, v.Checklist.Lines[i].Pending = true, "", false
	}
	v.Checklist.Lines[5].Value = "0s"
	v.Checklist.Lines[7].Value = "2,360 chunks, 2,412,330 rows match"
	v.Checklist.Lines[8].Value = "2/2 ready"
	v.Checklist.Lines[9].Value = "approved"
	v.Revert = &runner.RevertWindow{OldTable: "_orders_20260501120003_del", Open: true,
		Since: v.FinishedAt, Binlog: "mariadb-bin.000042:1234"}
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
	copying := copyingView()
	copying.ID = "01JTB6W0000000000ORDERS00"
	copying.CreatedAt = fixedNow.Add(-400 * time.Second)
	events := baseView()
	events.ID, events.Table, events.Status = "01JTB6Y0000000000EVENTS01", "events", migration.StatusFailed
	events.Error = "critical load Threads_running=80 held 10s"
	customers.CreatedAt = fixedNow.Add(-2 * time.Hour)
	items.CreatedAt = fixedNow.Add(-300 * time.Second)
	events.CreatedAt, events.FinishedAt = fixedNow.Add(-200*time.Second), fixedNow.Add(-100*time.Second)
	return []client.MigrationView{customers, copying, items, gateView(), events}
}

// orderEvents is the event log of shop.orders.
func orderEvents() []store.Event {
	at := func(s int) time.Time { return fixedNow.Add(time.Duration(s-95) * time.Second) }
	return []store.Event{
		{ID: 1, MigrationID: ordersID, Time: at(0), Kind: store.EventCreated, Message: "created on shop.orders"},
		{ID: 2, MigrationID: ordersID, Time: at(1), Kind: store.EventTransition, Message: "queued → planning"},
		{ID: 3, MigrationID: ordersID, Time: at(1), Kind: store.EventTransition, Message: "planning → running: gh-ost (no shared online ALTER for MODIFY int→bigint)"},
		{ID: 4, MigrationID: ordersID, Time: at(40), Kind: store.EventThrottle, Message: "throttled: replica 127.0.0.1:13307 lag 2140ms > 1500ms"},
		{ID: 5, MigrationID: ordersID, Time: at(52), Kind: store.EventThrottle, Message: "throttle lifted after 12s"},
		{ID: 6, MigrationID: ordersID, Time: at(90), Kind: store.EventTransition, Message: "running → ready: copy complete, waiting at the gate"},
		{ID: 7, MigrationID: ordersID, Time: at(92), Kind: store.EventBlocker, Message: "connection 4711 (app@10.0.0.7) open for 48s"},
		{ID: 8, MigrationID: ordersID, Time: at(93), Kind: "gate_waiting", Message: "gate closed: waiting for transactions, checksum, participants, approval"},
	}
}

// cancelEvents follow orderEvents when the DBA cancels at the gate.
func cancelEvents() []store.Event {
	at := func(s int) time.Time { return fixedNow.Add(time.Duration(s) * time.Second) }
	return []store.Event{
		{ID: 9, MigrationID: ordersID, Time: at(0), Kind: store.EventNote, Message: "cancel requested by dba@bastion (token ops, 10.0.4.2)"},
		{ID: 10, MigrationID: ordersID, Time: at(0), Kind: "gate_closed", Message: "gate closed without opening: cancelled"},
		{ID: 11, MigrationID: ordersID, Time: at(1), Kind: "participant_phase", Message: "abort sent to 0 instance(s)"},
		{ID: 12, MigrationID: ordersID, Time: at(1), Kind: store.EventTransition, Message: "cancelled while ready (at the cut-over gate); the original table is unchanged",
			Data: []byte(`{"from":"ready","to":"cancelled"}`)},
	}
}

// doneEvents follow orderEvents when the cut-over succeeded.
func doneEvents() []store.Event {
	at := func(s int) time.Time { return fixedNow.Add(time.Duration(s) * time.Second) }
	return []store.Event{
		{ID: 9, MigrationID: ordersID, Time: at(0), Kind: "approval", Message: "cut-over approved by dba@bastion (token ops, 10.0.4.2)"},
		{ID: 10, MigrationID: ordersID, Time: at(1), Kind: "gate_opened", Message: "gate open: all conditions hold"},
		{ID: 11, MigrationID: ordersID, Time: at(2), Kind: store.EventTransition, Message: "cut-over", Data: []byte(`{"from":"ready","to":"cutting_over"}`)},
		{ID: 12, MigrationID: ordersID, Time: at(3), Kind: store.EventTransition,
			Message: "complete in 3m12.418s, 2412330 rows copied, throttled 12s, cut-over 182ms (table locked 41ms), original table kept as _orders_20260501120003_del",
			Data:    []byte(`{"from":"cutting_over","to":"complete"}`)},
	}
}
