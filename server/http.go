package server

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/wire"
)

// HandlerOptions configure the HTTP API.
type HandlerOptions struct {
	// Token is the bearer token every state-changing call must carry. Required.
	Token string
	// OpenReads lets read-only GETs through without the token (a loopback listener). /healthz
	// is always open.
	OpenReads bool
	// Metrics serves GET /metrics (nil: 404).
	Metrics http.Handler
	// Registry serves the participant endpoints (nil: they answer 503).
	Registry *cutover.Registry
}

// Validate reports what cannot work.
func (o HandlerOptions) Validate() error {
	if len(o.Token) < 16 {
		return errors.New("server: the API token must be at least 16 characters")
	}
	return nil
}

// api serves the Controller over HTTP.
type api struct {
	c    *Controller
	opts HandlerOptions
}

// NewHandler returns the HTTP API of c (see docs/API.md).
func NewHandler(c *Controller, opts HandlerOptions) (http.Handler, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	a := &api{c: c, opts: opts}
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
	parts := a.participants()
	mux.Handle(wire.PathParticipants, parts)
	mux.Handle(wire.PathParticipants+"/", parts)
	mux.HandleFunc("DELETE "+wire.PathParticipant, a.evict(parts))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, client.ErrorResponse{Error: "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	return mux, nil
}

type action func(ctx context.Context, id, by string) (client.MigrationView, error)

// authorized checks the bearer token in constant time.
func (a *api) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(a.opts.Token)) == 1
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="ghostgate"`)
	writeJSON(w, http.StatusUnauthorized, client.ErrorResponse{Error: "missing or wrong bearer token"})
}

// write guards a state-changing endpoint: the token is checked before the body is read.
func (a *api) write(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.authorized(r) {
			unauthorized(w)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, wire.MaxBodyBytes)
		h(w, r)
	})
}

// read guards a read-only endpoint: open on loopback, the token otherwise.
func (a *api) read(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.opts.OpenReads && !a.authorized(r) {
			unauthorized(w)
			return
		}
		h(w, r)
	})
}

// caller names who asked, for the event log.
func caller(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "api (" + host + ")"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
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

func (a *api) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, client.Health{Status: "ok", Migrations: a.c.Count(), Owner: a.c.Owner().String()})
}

// list serves GET /v1/migrations[?status=a,b][&table=[schema.]t][&limit=N]. A parameter it
// does not know, or a status that does not exist, is a 400: a filter silently ignored would
// answer a question nobody asked (issue 13).
func (a *api) list(w http.ResponseWriter, r *http.Request) {
	o, err := listOptions(r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	views, err := a.c.List(r.Context(), o)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, client.MigrationsResponse{Migrations: views})
}

func listOptions(q url.Values) (client.ListOptions, error) {
	var o client.ListOptions
	for k := range q {
		if k != "status" && k != "table" && k != "limit" {
			return o, badRequest("unknown query parameter %q (known: status, table, limit)", k)
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return o, badRequest("limit %q: want a positive number", s)
		}
		o.Limit = n
	}
	for _, s := range strings.Split(q.Get("status"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		st := migration.Status(s)
		if !slices.Contains(migration.Statuses, st) {
			return o, badRequest("status %q: want one of %s", s, joinStatuses(migration.Statuses))
		}
		o.Status = append(o.Status, st)
	}
	o.Table = strings.TrimSpace(q.Get("table"))
	return o, nil
}

func joinStatuses(ss []migration.Status) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, ", ")
}

func (a *api) create(w http.ResponseWriter, r *http.Request) {
	var req client.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if strings.TrimSpace(req.DDL) == "" {
		writeError(w, badRequest("ddl is empty"))
		return
	}
	views, err := a.c.Create(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, client.MigrationsResponse{Migrations: views})
}

// id resolves the {id} of the path (a whole id, or a unique prefix or suffix); on failure it
// has written the error.
func (a *api) id(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, err := a.c.Resolve(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return "", false
	}
	return id, true
}

func (a *api) get(w http.ResponseWriter, r *http.Request) {
	id, ok := a.id(w, r)
	if !ok {
		return
	}
	v, err := a.c.Get(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *api) checklist(w http.ResponseWriter, r *http.Request) {
	id, ok := a.id(w, r)
	if !ok {
		return
	}
	cl, err := a.c.Checklist(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, cl)
}

// act runs a body-less action (pause, resume, approve, cancel). A body, if sent, must be empty
// or a JSON object: anything else is a 400 and nothing changes.
func (a *api) act(do action) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(r.Body); err != nil {
			writeError(w, badRequest("read body: %v", err))
			return
		}
		if b := bytes.TrimSpace(buf.Bytes()); len(b) > 0 {
			var obj map[string]any
			if err := json.Unmarshal(b, &obj); err != nil {
				writeError(w, badRequest("malformed JSON body: %v", err))
				return
			}
		}
		id, ok := a.id(w, r)
		if !ok {
			return
		}
		v, err := do(r.Context(), id, caller(r))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// log serves GET /v1/migrations/{id}/log[?offset=B | ?tail=N] as text/plain: the gh-ost worker
// log from byte B (at most MaxLogRead bytes), or its last N lines; X-Next-Offset is where the
// next read goes on (follow a log by passing it as ?offset=).
func (a *api) log(w http.ResponseWriter, r *http.Request) {
	id, ok := a.id(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var offset int64
	var tail int
	if s := q.Get("offset"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			writeError(w, badRequest("offset %q: want a byte offset (a non-negative number)", s))
			return
		}
		offset = n
	}
	if s := q.Get("tail"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			writeError(w, badRequest("tail %q: want a positive number of lines", s))
			return
		}
		tail = n
	}
	text, next, err := a.c.WorkerLog(r.Context(), id, offset, tail)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set(client.HeaderNextOffset, strconv.FormatInt(next, 10))
	_, _ = w.Write(text)
}

func (a *api) chunkSize(w http.ResponseWriter, r *http.Request) {
	var req client.ChunkSizeRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	id, ok := a.id(w, r)
	if !ok {
		return
	}
	v, err := a.c.SetChunkSize(r.Context(), id, req.ChunkSize, caller(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// participants serves the wire endpoints through the registry (signed by the participants).
// Without a registry they answer 503. Listing participants is a read: it needs the token when
// reads are not open; a participant's own calls are signed and pass.
func (a *api) participants() http.Handler {
	if a.opts.Registry == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusServiceUnavailable, client.ErrorResponse{
				Error: "participants are disabled: start migrate serve with --participant-secret-file or $GHOSTGATE_PARTICIPANT_SECRET"})
		})
	}
	h := a.opts.Registry.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		signed := r.Header.Get(wire.HeaderSignature) != ""
		if r.Method == http.MethodGet && !signed && !a.opts.OpenReads && !a.authorized(r) {
			unauthorized(w)
			return
		}
		h.ServeHTTP(w, r)
	})
}

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
		if err := a.opts.Registry.Evict(r.PathValue("id")); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// extendWrite lifts the server's write timeout for a response that lasts (a long poll, the
// stream): until is zero for no deadline.
func extendWrite(w http.ResponseWriter, until time.Time) {
	_ = http.NewResponseController(w).SetWriteDeadline(until)
}
