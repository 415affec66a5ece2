package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// KeepAlive is how often an idle stream sends a comment line, so proxies and clients can tell a
// quiet controller from a dead connection.
const KeepAlive = 15 * time.Second

// events serves GET /v1/migrations/{id}/events?since=N&wait=30s.
func (a *api) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since int64
	if s := q.Get("since"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			writeError(w, badRequest("since %q: want an event id (a non-negative number)", s))
			return
		}
		since = n
	}
	var wait time.Duration
	if s := q.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			writeError(w, badRequest("wait %q: want a duration like 30s", s))
			return
		}
		wait = min(d, MaxWait)
		extendWrite(w, time.Now().Add(wait+10*time.Second))
	}
	id, ok := a.id(w, r)
	if !ok {
		return
	}
	resp, err := a.c.Events(r.Context(), id, since, wait)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away
		}
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// stream serves GET /v1/stream[?migration=ID] as server-sent events: one "data:" line of JSON
// (client.StreamEvent) per event, its kind as the event name and its seq as the id.
func (a *api) stream(w http.ResponseWriter, r *http.Request) {
	migrationID := r.URL.Query().Get("migration")
	if migrationID != "" {
		id, err := a.c.Resolve(r.Context(), migrationID)
		if err != nil {
			writeError(w, err)
			return
		}
		migrationID = id
	}
	events, unsubscribe := a.c.Subscribe(migrationID, 256)
	defer unsubscribe()
	extendWrite(w, time.Time{})
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": ghostgate event stream\n\n"); err != nil || rc.Flush() != nil {
		return
	}
	keep := time.NewTicker(KeepAlive)
	defer keep.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-keep.C:
			_, err = fmt.Fprint(w, ": keep-alive\n\n")
		case ev := <-events:
			b, jerr := json.Marshal(ev)
			if jerr != nil {
				continue
			}
			_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Kind, b)
		}
		if err != nil || rc.Flush() != nil {
			return
		}
	}
}
