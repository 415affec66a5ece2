package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/internal/version"
	"github.com/ghostgate/ghostgate/migration"
)

func (a *api) health(w http.ResponseWriter, _ *http.Request) {
	v := version.Get()
	writeJSON(w, http.StatusOK, client.Health{Status: "ok", Migrations: a.c.Count(), Owner: a.c.Owner().String(),
		Version: v.Version, GoVersion: v.GoVersion})
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
		if k != "status" && k != "table" && k != "limit" && k != "cluster" {
			return o, badRequest("unknown query parameter %q (known: status, table, limit, cluster)", k)
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
	o.Cluster = strings.TrimSpace(q.Get("cluster"))
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
	views, err := a.c.Create(r.Context(), req, a.caller(r))
	if err != nil {
		writeError(w, err)
		return
	}
	if len(views) > 0 {
		// The first migration's URL; a request on several tables lists the others in the body.
		w.Header().Set("Location", migrationURL(views[0].ID))
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

func migrationURL(id string) string {
	return strings.Replace(client.PathMigration, "{id}", url.PathEscape(id), 1)
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
		v, err := do(r.Context(), id, a.caller(r))
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

func (a *api) niceRatio(w http.ResponseWriter, r *http.Request) {
	var req client.NiceRatioRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.NiceRatio == nil {
		writeError(w, badRequest("nice_ratio missing: want a number, 0-%d", migration.MaxNiceRatio))
		return
	}
	id, ok := a.id(w, r)
	if !ok {
		return
	}
	v, err := a.c.SetNiceRatio(r.Context(), id, *req.NiceRatio, a.caller(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
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
	v, err := a.c.SetChunkSize(r.Context(), id, req.ChunkSize, a.caller(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
