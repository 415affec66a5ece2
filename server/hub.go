package server

import (
	"sync"

	"github.com/ghostgate/ghostgate/client"
)

// hub fans the controller's live events out to the stream's subscribers and wakes long polls.
// Publishing never blocks the runner: a subscriber whose buffer is full misses events (the
// stream is a live view; the store's event log is the complete record).
type hub struct {
	mu   sync.Mutex
	seq  int64
	subs map[*subscriber]struct{}
}

type subscriber struct {
	ch        chan client.StreamEvent
	migration string // "" for every migration
}

func newHub() *hub { return &hub{subs: map[*subscriber]struct{}{}} }

// publish numbers ev and offers it to every matching subscriber.
func (h *hub) publish(ev client.StreamEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	ev.Seq = h.seq
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
	s := &subscriber{ch: make(chan client.StreamEvent, buf), migration: migration}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s.ch, func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
	}
}
