package server

import (
	"sync"

	"github.com/ghostgate/ghostgate/client"
)

// HistorySize is how many of the latest live events the hub keeps, so that a stream client that
// reconnects with Last-Event-ID gets what it missed (the SSE resume contract).
const HistorySize = 1024

// hub fans the controller's live events out to the stream's subscribers and wakes long polls.
// Publishing never blocks the runner: a subscriber whose buffer is full misses events (the
// stream is a live view; the store's event log is the complete record).
type hub struct {
	mu      sync.Mutex
	seq     int64
	subs    map[*subscriber]struct{}
	history []client.StreamEvent // the latest HistorySize events, oldest first
}

type subscriber struct {
	ch        chan client.StreamEvent
	migration string // "" for every migration
}

func newHub() *hub { return &hub{subs: map[*subscriber]struct{}{}} }

// publish numbers ev, keeps it in the history and offers it to every matching subscriber.
func (h *hub) publish(ev client.StreamEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	ev.Seq = h.seq
	h.history = append(h.history, ev)
	if n := len(h.history) - HistorySize; n > 0 {
		h.history = append(h.history[:0], h.history[n:]...)
	}
	for s := range h.subs {
		if s.migration != "" && s.migration != ev.MigrationID {
			continue
		}
		select {
		case s.ch <- ev:
		default:
		}
	}
}

// subscribe returns a channel of events (of one migration, or all when migration is "") with
// room for buf of them, and the func that unsubscribes; the channel is never closed, so a reader
// selects on its own context too.
func (h *hub) subscribe(migration string, buf int) (<-chan client.StreamEvent, func()) {
	ch, unsubscribe, _ := h.subscribeAfter(migration, buf, -1)
	return ch, unsubscribe
}

// subscribeAfter is subscribe that first delivers the kept events after seq after (none when
// after is negative). complete is false when some of them are no longer kept, or after is not
// a seq of this controller (one that restarted since): the client must read the event log.
func (h *hub) subscribeAfter(migration string, buf int, after int64) (<-chan client.StreamEvent, func(), bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var replay []client.StreamEvent
	complete := true
	if after >= 0 {
		oldest := h.seq + 1
		if len(h.history) > 0 {
			oldest = h.history[0].Seq
		}
		complete = after <= h.seq && after >= oldest-1
		for _, ev := range h.history {
			if ev.Seq > after && (migration == "" || ev.MigrationID == migration) {
				replay = append(replay, ev)
			}
		}
	}
	s := &subscriber{ch: make(chan client.StreamEvent, buf+len(replay)), migration: migration}
	for _, ev := range replay {
		s.ch <- ev
	}
	h.subs[s] = struct{}{}
	return s.ch, func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
	}, complete
}
