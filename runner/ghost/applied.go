package ghost

import (
	"errors"
	"fmt"
	"reflect"
	"time"
	"unsafe"

	"github.com/github/gh-ost/go/logic"
	"github.com/github/gh-ost/go/mysql"
)

// Why the worker reports the applier's position (issue 10): the gate's checksum compares a chunk
// of the original table, read at a binlog position P, with the same chunk of the ghost table, and
// that comparison means something only once gh-ost has applied every binlog event up to P to the
// ghost table. A small backlog is not that: gh-ost's "Backlog" counts events queued after they
// were read, not events the streamer has not read yet.
//
// gh-ost v1.1.10 keeps the position in Applier.CurrentCoordinates (guarded by
// CurrentCoordinatesMutex, both exported), and moves it only through its single apply loop
// (go/logic/migrator.go): onApplyEventStruct sets it after the transaction of a DML batch
// committed (to the coordinates of the batch's first event, so it never runs ahead of what was
// applied), and onChangelogHeartbeatEvent queues a function that sets it to the heartbeat's
// coordinates behind every DML read before the heartbeat. So CurrentCoordinates >= P means every
// event up to P is in the ghost table. Its own Migrator.Checkpoint waits on the same field.
// The Applier is an unexported field of the Migrator, reached by reflection like the waker's
// queue (waker.go); the worker refuses the command when the pinned gh-ost differs.
//
// Coordinates are those of rows events (their end position), and a position P from SHOW MASTER
// STATUS lies after a transaction's XID event: the applier's position reaches P only with a later
// event. An idle table has none but gh-ost's heartbeat (every 100 ms), so the worker writes one
// heartbeat itself when the position is short, exactly as gh-ost's own heartbeat loop does
// (Applier.WriteChangelog, go/logic/applier.go InitiateHeartbeat): the wait then lasts one round
// through the binlog, not up to a heartbeat interval.

// maxAwaitApplied bounds one await_applied command (below commandTimeout, so the controller's
// wait for the acknowledgement never gives up first).
const maxAwaitApplied = 3 * time.Second

// errNoApplier means gh-ost's Migrator does not have the applier this was written against.
var errNoApplier = errors.New("ghost: gh-ost Migrator has no applier of the expected shape")

// migratorApplier returns the Migrator's applier. It must be called only after gh-ost reached
// the cut-over gate (OnBeforeCutOver): Migrate and Revert assign the field before that, in the
// goroutine that runs the hook, so the hook's atomic store orders the assignment before the read.
func migratorApplier(m *logic.Migrator) (*logic.Applier, error) {
	if m == nil {
		return nil, errNoApplier
	}
	f := reflect.ValueOf(m).Elem().FieldByName("applier")
	if !f.IsValid() || f.Type() != reflect.TypeOf((*logic.Applier)(nil)) {
		return nil, errNoApplier
	}
	a := *(**logic.Applier)(unsafe.Pointer(f.UnsafeAddr()))
	if a == nil {
		return nil, errNoApplier
	}
	return a, nil
}

// appliedThrough is the applier's position now (nil before its first event).
func appliedThrough(a *logic.Applier) *mysql.FileBinlogCoordinates {
	a.CurrentCoordinatesMutex.Lock()
	defer a.CurrentCoordinatesMutex.Unlock()
	c, ok := a.CurrentCoordinates.(*mysql.FileBinlogCoordinates)
	if !ok || c == nil || c.IsEmpty() {
		return nil
	}
	return mysql.NewFileBinlogCoordinates(c.LogFile, c.LogPos)
}

// awaitApplied answers one await_applied command: the acknowledgement comes once the applier's
// position reached c.Coords (its Coords say where it is), or with an error when c.N milliseconds
// (at most maxAwaitApplied) passed first. It runs in its own goroutine: a wait must not hold up
// the commands behind it (a throttle, a cut-over permit).
func (w *worker) awaitApplied(c command) {
	ack := event{Type: evAck, AckID: c.ID}
	defer func() { w.out.send(ack) }()
	target, err := mysql.ParseFileBinlogCoordinates(c.Coords)
	if err != nil {
		ack.Error = err.Error()
		return
	}
	if !w.atGate.Load() {
		ack.Error = "gh-ost has not reached the cut-over gate: the applier's position is read only there"
		return
	}
	a, err := migratorApplier(w.migrator.Load())
	if err != nil {
		ack.Error = err.Error()
		return
	}
	wait := min(time.Duration(c.N)*time.Millisecond, maxAwaitApplied)
	deadline := time.Now().Add(wait)
	poked := false
	for {
		cur := appliedThrough(a)
		if cur != nil && target.SmallerThanOrEquals(cur) {
			ack.Coords = cur.DisplayString()
			return
		}
		if !poked {
			poked = true
			if _, err := a.WriteChangelog("heartbeat", time.Now().Format(time.RFC3339Nano)); err != nil {
				w.mc.Log.Warningf("await applied: heartbeat: %v", err)
			}
		}
		if time.Now().After(deadline) {
			at := "nothing yet"
			if cur != nil {
				at = cur.DisplayString()
				ack.Coords = at
			}
			ack.Pending = true
			ack.Error = fmt.Sprintf("gh-ost had applied the binlog through %s, not yet through %s, after %s", at, target.DisplayString(), wait)
			return
		}
		time.Sleep(time.Millisecond)
	}
}
