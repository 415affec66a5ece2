package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/graybox/wire"
)

// HandlerOptions configure the HTTP API.
type HandlerOptions struct {
	// Token is the bearer token every state-changing call must carry, recorded as "api" in the
	// event log; Tokens are more of them, each with its own name. At least one is required.
	Token  string
	Tokens []Token
	// OpenReads lets read-only GETs through without the token (a loopback listener). /healthz
	// is always open.
	OpenReads bool
	// Metrics serves GET /metrics (nil: 404).
	Metrics http.Handler
	// Registry serves the participant endpoints (nil: they answer 503).
	Registry *cutover.Registry
	// MaxStreams bounds the event streams and long polls open at once; one more is answered
	// 429. Default DefaultMaxStreams.
	MaxStreams int
}

// DefaultMaxStreams is HandlerOptions.MaxStreams when unset. Issue 10: 400 streams were opened
// at once (one file descriptor each) with nothing to stop more.
const DefaultMaxStreams = 64

// Validate reports what cannot work.
func (o HandlerOptions) Validate() error {
	if o.MaxStreams < 0 {
		return errors.New("server: max streams must not be negative")
	}
	return validateTokens(o.tokens())
}

// api serves the Controller over HTTP.
type api struct {
	c       *Controller
	opts    HandlerOptions
	streams chan struct{} // one token per open stream or long poll
}

// NewHandler returns the HTTP API of c (see docs/API.md).
func NewHandler(c *Controller, opts HandlerOptions) (http.Handler, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.MaxStreams == 0 {
		opts.MaxStreams = DefaultMaxStreams
	}
	a := &api{c: c, opts: opts, streams: make(chan struct{}, opts.MaxStreams)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+client.PathHealth, a.health)
	if opts.Metrics != nil {
		mux.Handle("GET "+client.PathMetrics, a.read(opts.Metrics.ServeHTTP))
	}
	mux.Handle("GET "+client.PathMigrations, a.read(a.list))
	mux.Handle("POST "+client.PathMigrations, a.write(a.create))
	mux.Handle("GET "+client.PathMigration, a.read(a.get))
	mux.Handle("GET "+client.PathMigration+"/checklist", a.read(a.checklist))
	mux.Handle("GET "+client.PathMigration+"/events", a.read(a.events))
	mux.Handle("GET "+client.PathMigration+"/log", a.read(a.log))
	mux.Handle("GET "+client.PathStream, a.read(a.stream))
	for verb, do := range map[string]action{"pause": c.Pause, "resume": c.Resume, "approve": c.Approve, "cancel": c.Cancel,
		"revert": c.Revert} {
		mux.Handle("POST "+client.PathMigration+"/"+verb, a.write(a.act(do)))
	}
	mux.Handle("POST "+client.PathMigration+"/chunk-size", a.write(a.chunkSize))
	mux.Handle("POST "+client.PathMigration+"/nice-ratio", a.write(a.niceRatio))
	parts := a.participants()
	mux.Handle(wire.PathParticipants, parts)
	mux.Handle(wire.PathParticipants+"/", parts)
	mux.HandleFunc("DELETE "+wire.PathParticipant, a.evict(parts))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { notRouted(mux, w, r) })
	return mux, nil
}

// notRouted answers a request no route takes: 405 with Allow when the path exists for other
// methods (the catch-all route would otherwise hide ServeMux's own 405), 404 when it does not.
func notRouted(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		writeJSON(w, http.StatusNotFound, client.ErrorResponse{Error: "no such endpoint: " + r.Method + " " + r.URL.Path, Code: client.CodeNotFound})
		return
	}
	if slices.Contains(allow, http.MethodGet) {
		allow = append(allow, http.MethodHead)
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeJSON(w, http.StatusMethodNotAllowed, client.ErrorResponse{
		Error: fmt.Sprintf("%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", ")),
		Code:  client.CodeMethodNotAllowed})
}

type action func(ctx context.Context, id, by string) (client.MigrationView, error)

// writeJSON answers v as JSON, without HTML escaping (see marshal).
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, statusOf(err), errorBody(err))
}

// decodeBody reads exactly one JSON value with only known fields: a typo in a field name is a
// 400, not a silently ignored setting.
func decodeBody(r *http.Request, into any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return badRequest("body larger than %d bytes", tooLarge.Limit)
		}
		return badRequest("malformed JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("malformed JSON body: trailing data after the object")
	}
	return nil
}

// participants serves the wire endpoints through the registry (signed by the participants).
// Without a registry they answer 503. Listing participants is a read: it needs the token when
// reads are not open; a participant's own calls are signed and pass.
func (a *api) participants() http.Handler {
	if a.opts.Registry == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusServiceUnavailable, client.ErrorResponse{Code: client.CodeUnavailable,
				Error: "participants are disabled: start migrate serve with --participant-secret-file or $GHOSTGATE_PARTICIPANT_SECRET"})
		})
	}
	h := a.opts.Registry.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Decided by the path, never by a header the caller chooses: issue 10 found that any
		// X-Ghostgate-Signature header skipped the token check on the listing.
		if r.Method == http.MethodGet && isParticipantRead(r.URL.Path) && !a.opts.OpenReads && !a.authorized(r) {
			unauthorized(w)
			return
		}
		if r.Method == http.MethodGet && r.URL.Path == wire.PathParticipants {
			// Every list of the API is an object naming its items (issue 13: one list shape).
			writeJSON(w, http.StatusOK, client.ParticipantsResponse{Participants: a.opts.Registry.Participants()})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// isParticipantRead reports whether path is the participant listing or one participant (the
// reads for DBAs), as opposed to a participant's own signed calls (pending, …).
func isParticipantRead(path string) bool {
	if path == wire.PathParticipants || path == wire.PathParticipants+"/" {
		return true
	}
	rest, ok := strings.CutPrefix(path, wire.PathParticipants+"/")
	return ok && !strings.Contains(rest, "/")
}

// holdStream takes a slot for a stream or long poll; false (and a 429 written) when all are
// taken. The caller releases it with releaseStream.
func (a *api) holdStream(w http.ResponseWriter) bool {
	select {
	case a.streams <- struct{}{}:
		return true
	default:
		writeJSON(w, http.StatusTooManyRequests, client.ErrorResponse{Error: fmt.Sprintf(
			"too many open event streams and long polls (%d, the most this controller serves): close some and retry", cap(a.streams))})
		return false
	}
}

func (a *api) releaseStream() { <-a.streams }

// evict serves DELETE /v1/participants/{id}: with a bearer token it is the DBA's eviction of a
// dead instance; without one it is the participant's own signed deregistration.
func (a *api) evict(participants http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" || a.opts.Registry == nil {
			participants.ServeHTTP(w, r)
			return
		}
		if !a.authorized(r) {
			unauthorized(w)
			return
		}
		id := r.PathValue("id")
		p, err := a.opts.Registry.Participant(id)
		if err != nil {
			writeError(w, err)
			return
		}
		if err := a.opts.Registry.Evict(id); err != nil {
			writeError(w, err)
			return
		}
		a.c.noteTables(r.Context(), p.Tables, fmt.Sprintf("participant %s (%s@%s) evicted by %s", id, p.Service, p.Host, a.caller(r)))
		w.WriteHeader(http.StatusNoContent)
	}
}

// extendWrite lifts the server's write timeout for a response that lasts (a long poll, the
// stream): until is zero for no deadline.
func extendWrite(w http.ResponseWriter, until time.Time) {
	_ = http.NewResponseController(w).SetWriteDeadline(until)
}
