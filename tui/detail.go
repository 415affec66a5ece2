package tui

import (
	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/store"
)

// detailView is one migration in full. It keeps what polling does not return each time: the
// event log read so far (bounded), the scroll position and the selected participant.
type detailView struct {
	id            string
	view          client.MigrationView
	hist          *History
	events        []store.Event
	next          int64 // the ?since= of the next events read
	scroll        int   // event lines scrolled up from the newest (0 follows the log)
	participant   string
	width, height int
}

func newDetailView(id string, hist *History) detailView {
	return detailView{id: id, hist: hist}
}

// SetSize sets the area the view draws in.
func (d *detailView) SetSize(w, h int) { d.width, d.height = w, h }

// SetView replaces the migration's state.
func (d *detailView) SetView(v client.MigrationView) {
	d.view = v
	d.selectParticipant()
}

// AddEvents appends new events, keeping the newest DefaultEventLog of them.
func (d *detailView) AddEvents(r client.EventsResponse) {
	d.events = append(d.events, r.Events...)
	if n := len(d.events) - DefaultEventLog; n > 0 {
		d.events = append(d.events[:0], d.events[n:]...)
	}
	if r.Next > d.next {
		d.next = r.Next
	}
	if d.scroll > 0 {
		d.scroll += len(r.Events) // a reader who scrolled up keeps reading the same lines
	}
	d.scroll = min(d.scroll, max(0, len(d.events)-1))
}

// Scroll moves the event log by n lines; positive is towards older events.
func (d *detailView) Scroll(n int) {
	d.scroll = max(0, min(d.scroll+n, len(d.events)-1))
}

// action returns an action on this migration.
func (d detailView) action(verb string) action {
	return action{verb: verb, id: d.id, label: label(d.view)}
}

// selectParticipant keeps the selection on a participant that is still listed; the default is
// the first whose lease lapsed, the one a DBA most likely wants to evict.
func (d *detailView) selectParticipant() {
	ps := d.view.Participants
	for _, p := range ps {
		if p.InstanceID == d.participant {
			return
		}
	}
	d.participant = ""
	for _, p := range ps {
		if !p.Live {
			d.participant = p.InstanceID
			return
		}
	}
	if len(ps) > 0 {
		d.participant = ps[0].InstanceID
	}
}

// NextParticipant selects the next participant, round the list.
func (d *detailView) NextParticipant() {
	ps := d.view.Participants
	if len(ps) == 0 {
		return
	}
	d.participant = ps[(d.selectedIndex()+1)%len(ps)].InstanceID
}

func (d detailView) selectedIndex() int {
	for i, p := range d.view.Participants {
		if p.InstanceID == d.participant {
			return i
		}
	}
	return 0
}

// SelectedParticipant returns the participant an evict would remove.
func (d detailView) SelectedParticipant() (wire.ParticipantStatus, bool) {
	ps := d.view.Participants
	if len(ps) == 0 {
		return wire.ParticipantStatus{}, false
	}
	return ps[d.selectedIndex()], true
}
