package server

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/runner"
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
	}
	if wait > 0 {
		if !a.holdStream(w) {
			return
		}
		defer a.releaseStream()
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
// (client.StreamEvent) per event, its kind as the event name and its seq as the id. A client
// that reconnects with Last-Event-ID (the header EventSource sends, or ?last_event_id=) first
// gets the kept events after it; when some are lost (or the id is of an earlier controller) a
// "gap" event says so, and the event log has the record.
func (a *api) stream(w http.ResponseWriter, r *http.Request) {
	after := int64(-1)
	if s := cmp.Or(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("last_event_id")); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			writeError(w, badRequest("Last-Event-ID %q: want a seq this stream sent (a non-negative number)", s))
			return
		}
		after = n
	}
	migrationID := r.URL.Query().Get("migration")
	if migrationID != "" {
		id, err := a.c.Resolve(r.Context(), migrationID)
		if err == nil {
			_, err = a.c.Get(r.Context(), id)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		migrationID = id
	}
	if !a.holdStream(w) {
		return
	}
	defer a.releaseStream()
	events, unsubscribe, complete := a.c.hub.subscribeAfter(migrationID, 256, after)
	defer unsubscribe()
	extendWrite(w, time.Time{})
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": ghostgate event stream\n\n"); err != nil || rc.Flush() != nil {
		return
	}
	if !complete {
		gap := client.StreamEvent{Event: runner.Event{Time: time.Now(), Kind: client.KindGap, MigrationID: migrationID,
			Reason: fmt.Sprintf("events after %d are no longer kept, or came from an earlier run of the controller: read the event log", after)}}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", gap.Kind, marshal(gap)); err != nil || rc.Flush() != nil {
			return
		}
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
			_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Kind, marshal(ev))
		}
		if err != nil || rc.Flush() != nil {
			return
		}
	}
}

// marshal is v as one line of JSON without HTML escaping ("<= 10s" stays as written, not
// "\u003c= 10s": the API is read by people and programs, never embedded in HTML).
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte("null")
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}
