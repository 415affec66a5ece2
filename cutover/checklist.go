package cutover

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Line names: the conditions of the gate, in the order the checklist shows them. The set is
// bounded so that it can serve as a metrics label.
const (
	LineEngine         = "engine"
	LineBacklog        = "backlog"
	LineReplicaLag     = "replica_lag"
	LineThreadsRunning = "threads_running"
	LineQPS            = "qps"
	LineTransactions   = "transactions"
	LineMDLWaiters     = "metadata_lock_waiters"
	LineChecksum       = "checksum"
	LineParticipants   = "participants"
	LineApproval       = "approval"
)

// Line is one condition of the gate as of one check.
type Line struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Value  string `json:"value"`            // what was observed, e.g. "3" or "1.2s"
	Limit  string `json:"limit"`            // what it must be, e.g. "<= 8"
	Detail string `json:"detail,omitempty"` // who or what blocks: connections, key ranges, instances
	// Pending marks a line that is not OK because it is not decided yet, not because something
	// is wrong: a checksum pass still running, participants not asked until every other
	// condition holds (issue 13: a front door shows it as "running" or "not asked yet", not ✗).
	Pending bool `json:"pending,omitempty"`
}

// Checklist is the state of every condition at one check. The gate opens only when every line
// passed at the same check.
type Checklist struct {
	MigrationID string    `json:"migration_id"`
	Schema      string    `json:"schema"`
	Table       string    `json:"table"`
	Time        time.Time `json:"time"`
	Open        bool      `json:"open"`   // the gate opened at this check
	Closed      string    `json:"closed"` // why the gate is not waiting any more ("" while it is)
	Lines       []Line    `json:"lines"`
}

// OK reports whether every line passed (and there is at least one).
func (c Checklist) OK() bool {
	if len(c.Lines) == 0 {
		return false
	}
	for _, l := range c.Lines {
		if !l.OK {
			return false
		}
	}
	return true
}

// Failing returns the lines that did not pass.
func (c Checklist) Failing() []Line {
	var out []Line
	for _, l := range c.Lines {
		if !l.OK {
			out = append(out, l)
		}
	}
	return out
}

// Line returns the line named name.
func (c Checklist) Line(name string) (Line, bool) {
	for _, l := range c.Lines {
		if l.Name == name {
			return l, true
		}
	}
	return Line{}, false
}

// Summary is one sentence for logs and events: "open" or "waiting for checksum, participants".
func (c Checklist) Summary() string {
	if c.OK() {
		return "all conditions hold"
	}
	names := make([]string, 0, len(c.Lines))
	for _, l := range c.Failing() {
		names = append(names, l.Name)
	}
	return "waiting for " + strings.Join(names, ", ")
}

// Waiting names what the gate waits for as a front door says it: the failing conditions, then
// ("; then …") the pending ones, which are not failures yet (issue 13). name maps a line's
// name to the words shown (nil: the name itself).
func (c Checklist) Waiting(name func(string) string) string {
	if name == nil {
		name = func(n string) string { return n }
	}
	var failing, pending []string
	for _, l := range c.Failing() {
		if l.Pending {
			pending = append(pending, name(l.Name))
		} else {
			failing = append(failing, name(l.Name))
		}
	}
	switch {
	case len(failing) > 0 && len(pending) > 0:
		return "waiting for " + strings.Join(failing, ", ") + "; then " + strings.Join(pending, ", ")
	case len(failing) > 0:
		return "waiting for " + strings.Join(failing, ", ")
	case len(pending) > 0:
		return "waiting for " + strings.Join(pending, ", ")
	}
	return "all conditions hold"
}

// failingNames is the state that decides whether a closed gate's reason changed: the names of
// the failing lines only, since values and details (ages, lags) move on every check and the
// event log must not get an entry per check.
func (c Checklist) failingNames() string {
	var b strings.Builder
	for _, l := range c.Failing() {
		b.WriteString(l.Name + ";")
	}
	return b.String()
}

// sameAs compares everything but the time.
func (c Checklist) sameAs(o Checklist) bool {
	return c.Open == o.Open && c.Closed == o.Closed && slices.Equal(c.Lines, o.Lines)
}

// hub holds the latest checklist and its subscribers. Each subscriber channel holds at most one
// checklist: a slow reader gets the latest, never a stale backlog.
type hub struct {
	mu   sync.Mutex
	cur  Checklist
	subs map[chan Checklist]struct{}
}

func (h *hub) get() Checklist {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur
}

// publish stores c and sends it to subscribers when it differs from the last one.
func (h *hub) publish(c Checklist) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.sameAs(h.cur) {
		h.cur.Time = c.Time
		return
	}
	h.cur = c
	for ch := range h.subs {
		select {
		case <-ch: // drop the stale one
		default:
		}
		ch <- c
	}
}

func (h *hub) subscribe() (<-chan Checklist, func()) {
	ch := make(chan Checklist, 1)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[chan Checklist]struct{}{}
	}
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs, ch)
			h.mu.Unlock()
			close(ch)
		})
	}
}
