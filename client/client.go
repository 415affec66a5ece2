// Package client is the Go client of the ghostgate controller's HTTP API (`migrate serve`): typed
// calls for every endpoint, a context on each, the bearer token on state-changing calls, errors
// that carry the status code and the server's message (*APIError), and Stream for the live
// server-sent events. The CLI subcommands and the TUI use it; its types are the API's JSON.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/graybox/wire"
)

// HeaderActor names the person or job a client acts for; the controller records it with every
// action (with the token's name and the address it came from).
const HeaderActor = "X-Ghostgate-Actor"

// DefaultServer is where `migrate serve` listens unless told otherwise.
const DefaultServer = "http://127.0.0.1:8470"

// API paths.
const (
	PathHealth     = "/healthz"
	PathMetrics    = "/metrics"
	PathMigrations = "/v1/migrations"
	PathMigration  = "/v1/migrations/{id}"
	PathStream     = "/v1/stream"
)

// Sentinels an *APIError matches with errors.Is, by status code.
var (
	ErrBadRequest   = errors.New("bad request")   // 400
	ErrUnauthorized = errors.New("unauthorized")  // 401
	ErrNotFound     = errors.New("not found")     // 404
	ErrConflict     = errors.New("conflict")      // 409
	ErrServer       = errors.New("server error")  // 5xx
	ErrUnavailable  = errors.New("not available") // 503
)

// APIError is an error answer of the API.
type APIError struct {
	StatusCode int
	Message    string
	// Code is the API's machine-readable code (client.Code*; "" from an older server).
	Code string
	// Plans holds the blocked plans (JSON, as `migrate plan -o json`) of a 409 on create.
	Plans json.RawMessage
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.StatusCode)
}

// Is maps the status code to the sentinels above.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.StatusCode == http.StatusBadRequest
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	case ErrUnavailable:
		return e.StatusCode == http.StatusServiceUnavailable
	case ErrServer:
		return e.StatusCode >= 500
	}
	return false
}

// Client talks to one controller. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	actor string
	hc    *http.Client
}

// WithActor returns a client that says it acts for actor (HeaderActor), e.g. "alice@laptop".
func (c *Client) WithActor(actor string) *Client {
	cp := *c
	cp.actor = actor
	return &cp
}

// New returns a client of the controller at server (e.g. DefaultServer). token is sent as a
// bearer token; it may be empty for read-only use on loopback. hc nil means a client whose
// requests end with their context (no global timeout: Stream and long polls last).
func New(server, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: server %q is not an http(s) URL", server)
	}
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: u, token: token, hc: hc}, nil
}

// Server is the base URL.
func (c *Client) Server() string { return c.base.String() }

func migrationPath(id, suffix string) string {
	return strings.Replace(PathMigration, "{id}", url.PathEscape(id), 1) + suffix
}

// do sends a request with an optional JSON body and decodes a JSON answer into out (may be nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	resp, err := c.send(ctx, method, path, query, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("client: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send returns a 2xx response (the caller closes its body) or an *APIError.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, in any) (*http.Response, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("client: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.actor != "" {
		req.Header.Set(HeaderActor, c.actor)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, decodeError(resp)
}

func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, wire.MaxBodyBytes))
	var er ErrorResponse
	if err := json.Unmarshal(b, &er); err != nil || er.Error == "" {
		er.Error = strings.TrimSpace(string(b))
		if er.Error == "" {
			er.Error = http.StatusText(resp.StatusCode)
		}
	}
	return &APIError{StatusCode: resp.StatusCode, Message: er.Error, Code: er.Code, Plans: er.Plans}
}

// Health checks GET /healthz.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	return h, c.do(ctx, http.MethodGet, PathHealth, nil, nil, &h)
}

// List returns the newest migrations the store knows (the server's default limit), newest first.
func (c *Client) List(ctx context.Context) ([]MigrationView, error) {
	return c.ListWith(ctx, ListOptions{})
}

// ListWith returns the migrations o selects, newest first.
func (c *Client) ListWith(ctx context.Context, o ListOptions) ([]MigrationView, error) {
	var r MigrationsResponse
	return r.Migrations, c.do(ctx, http.MethodGet, PathMigrations, o.Query(), nil, &r)
}

// Create plans req.DDL and starts one migration per table. A blocked plan is an *APIError with
// status 409 and the plans; a table that has an active migration is a 409 too.
func (c *Client) Create(ctx context.Context, req CreateRequest) ([]MigrationView, error) {
	var r MigrationsResponse
	return r.Migrations, c.do(ctx, http.MethodPost, PathMigrations, nil, req, &r)
}

// Get returns one migration with its live state.
func (c *Client) Get(ctx context.Context, id string) (MigrationView, error) {
	var v MigrationView
	return v, c.do(ctx, http.MethodGet, migrationPath(id, ""), nil, nil, &v)
}

func (c *Client) action(ctx context.Context, id, verb string, in any) (MigrationView, error) {
	var v MigrationView
	return v, c.do(ctx, http.MethodPost, migrationPath(id, "/"+verb), nil, in, &v)
}

// Pause holds a running migration back (a manual throttle) until Resume.
func (c *Client) Pause(ctx context.Context, id string) (MigrationView, error) {
	return c.action(ctx, id, "pause", nil)
}

// Resume lifts a Pause.
func (c *Client) Resume(ctx context.Context, id string) (MigrationView, error) {
	return c.action(ctx, id, "resume", nil)
}

// Approve gives the manual cut-over approval.
func (c *Client) Approve(ctx context.Context, id string) (MigrationView, error) {
	return c.action(ctx, id, "approve", nil)
}

// Cancel stops a migration; the original table stays as it was. It returns once it has ended.
func (c *Client) Cancel(ctx context.Context, id string) (MigrationView, error) {
	return c.action(ctx, id, "cancel", nil)
}

// Revert undoes a completed gh-ost migration: the answer is the new migration that swaps the
// original back, through the cut-over gate (409 when nothing was kept to swap back).
func (c *Client) Revert(ctx context.Context, id string) (MigrationView, error) {
	return c.action(ctx, id, "revert", nil)
}

// SetChunkSize changes gh-ost's copy chunk size of a running migration.
func (c *Client) SetChunkSize(ctx context.Context, id string, n int64) (MigrationView, error) {
	return c.action(ctx, id, "chunk-size", ChunkSizeRequest{ChunkSize: n})
}

// SetNiceRatio changes gh-ost's sleep after each copy chunk of a running migration, in multiples
// of the chunk's time (0-100; 0: none, 1 halves the copy rate).
func (c *Client) SetNiceRatio(ctx context.Context, id string, r float64) (MigrationView, error) {
	return c.action(ctx, id, "nice-ratio", NiceRatioRequest{NiceRatio: &r})
}

// Checklist returns the gate's latest checklist of a migration.
func (c *Client) Checklist(ctx context.Context, id string) (cutover.Checklist, error) {
	var cl cutover.Checklist
	return cl, c.do(ctx, http.MethodGet, migrationPath(id, "/checklist"), nil, nil, &cl)
}

// Events returns the event log of a migration after event id since. With wait > 0 the server
// holds the request until an event arrives or wait has passed (a long poll).
func (c *Client) Events(ctx context.Context, id string, since int64, wait time.Duration) (EventsResponse, error) {
	q := url.Values{"since": {strconv.FormatInt(since, 10)}}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	var r EventsResponse
	return r, c.do(ctx, http.MethodGet, migrationPath(id, "/events"), q, nil, &r)
}

// HeaderNextOffset is the header of GET /v1/migrations/{id}/log that says where the next read
// of the log goes on.
const HeaderNextOffset = "X-Next-Offset"

// WorkerLog reads the gh-ost worker log of a migration: from byte offset on, or its last tail
// lines when tail > 0. next is the offset of the next read (follow the log with it).
func (c *Client) WorkerLog(ctx context.Context, id string, offset int64, tail int) (text []byte, next int64, err error) {
	q := url.Values{}
	if tail > 0 {
		q.Set("tail", strconv.Itoa(tail))
	} else {
		q.Set("offset", strconv.FormatInt(offset, 10))
	}
	resp, err := c.send(ctx, http.MethodGet, migrationPath(id, "/log"), q, nil)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	text, err = io.ReadAll(io.LimitReader(resp.Body, 2<<20))
	if err != nil {
		return nil, 0, fmt.Errorf("client: read worker log: %w", err)
	}
	next, err = strconv.ParseInt(resp.Header.Get(HeaderNextOffset), 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("client: worker log: bad %s header %q", HeaderNextOffset, resp.Header.Get(HeaderNextOffset))
	}
	return text, next, nil
}

// Participants lists the registered service instances.
func (c *Client) Participants(ctx context.Context) ([]wire.ParticipantStatus, error) {
	var r ParticipantsResponse
	return r.Participants, c.do(ctx, http.MethodGet, wire.PathParticipants, nil, nil, &r)
}

// Evict removes a service instance (the DBA's decision that a dead instance must not hold the
// gate closed any longer). It uses the bearer token, not the participants' signature.
func (c *Client) Evict(ctx context.Context, instanceID string) error {
	return c.do(ctx, http.MethodDelete, wire.ParticipantPath(wire.PathParticipant, instanceID), nil, nil, nil)
}

// Metrics returns the Prometheus exposition text of GET /metrics.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	resp, err := c.send(ctx, http.MethodGet, PathMetrics, nil, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
