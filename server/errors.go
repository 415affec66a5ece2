package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/internal/errtext"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/runner/ghost"
	"github.com/ghostgate/ghostgate/store"
)

// Sentinels callers (and the HTTP mapping) branch on.
var (
	// ErrClosed: the controller is shutting down and takes no new migrations (503).
	ErrClosed = errors.New("server: controller is shutting down")
	// ErrNotLive: the migration is not run by this controller (it ended, or another controller
	// or a dead one owns it), so it cannot be steered (409).
	ErrNotLive = errors.New("server: migration is not running in this controller")
	// ErrNoGate: approval asked of a migration without a cut-over gate (a native ALTER) (409).
	ErrNoGate = errors.New("server: migration has no cut-over gate (native ALTERs run without one)")
)

// RequestError is a request the controller cannot act on as given (400): a malformed body, an
// unknown approval mode, DDL the planner refuses. Nothing was changed.
type RequestError struct{ Err error }

func (e *RequestError) Error() string { return e.Err.Error() }
func (e *RequestError) Unwrap() error { return e.Err }

func badRequest(format string, args ...any) error {
	return &RequestError{Err: fmt.Errorf(format, args...)}
}

// BlockedError refuses plans with error findings that were not overridden (409); nothing ran.
type BlockedError struct{ Plans []*planner.Plan }

func (e *BlockedError) Error() string {
	var codes []string
	for _, p := range e.Plans {
		for _, f := range p.Blocking() {
			s := p.Schema + "." + p.Table + ": " + f.Code
			if f.Override != "" {
				s += " (override: " + f.Override + ")"
			}
			codes = append(codes, s)
		}
	}
	return fmt.Sprintf("server: blocked by findings: %v", codes)
}

// plannerRefusal reports whether err is the planner refusing the input (a 400, not a 500): the
// planner's own error types decide (planner.IsRefusal).
func plannerRefusal(err error) bool { return planner.IsRefusal(err) }

// statusOf maps an error to its HTTP status.
func statusOf(err error) int {
	var req *RequestError
	var blocked *BlockedError
	var active *store.ActiveMigrationError
	var ambiguous *store.AmbiguousIDError
	switch {
	case errors.As(err, &ambiguous):
		return http.StatusBadRequest
	case errors.As(err, &req), errors.Is(err, cutover.ErrConfig), errors.Is(err, cutover.ErrBadApproval), plannerRefusal(err):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrNotFound), errors.Is(err, cutover.ErrUnknownInstance), errors.Is(err, ErrNoLog):
		return http.StatusNotFound
	case errors.As(err, &blocked), errors.As(err, &active), errors.Is(err, ErrNotLive), errors.Is(err, ErrNoGate),
		errors.Is(err, cutover.ErrNotManual), errors.Is(err, runner.ErrNotRevertible), errors.Is(err, ghost.ErrNotResumable):
		return http.StatusConflict
	case errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable
	case errors.As(err, new(*CommandError)):
		return http.StatusConflict
	case errors.As(err, new(*HandOffTimeoutError)):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// codeOf maps an error to its machine-readable code (client.Code*).
func codeOf(err error) string {
	var req *RequestError
	var blocked *BlockedError
	var active *store.ActiveMigrationError
	var ambiguous *store.AmbiguousIDError
	switch {
	case errors.As(err, &ambiguous):
		return client.CodeAmbiguousID
	case plannerRefusal(err):
		return client.CodeRefused
	case errors.As(err, &req), errors.Is(err, cutover.ErrConfig), errors.Is(err, cutover.ErrBadApproval):
		return client.CodeBadRequest
	case errors.Is(err, ErrNoLog):
		return client.CodeNoLog
	case errors.Is(err, store.ErrNotFound), errors.Is(err, cutover.ErrUnknownInstance):
		return client.CodeNotFound
	case errors.As(err, &blocked):
		return client.CodeBlocked
	case errors.As(err, &active):
		return client.CodeActiveMigration
	case errors.Is(err, ErrNotLive):
		return client.CodeNotLive
	case errors.Is(err, ErrNoGate):
		return client.CodeNoGate
	case errors.Is(err, cutover.ErrNotManual):
		return client.CodeNotManual
	case errors.Is(err, runner.ErrNotRevertible), errors.Is(err, ghost.ErrNotResumable):
		return client.CodeNotRevertible
	case errors.Is(err, ErrClosed):
		return client.CodeUnavailable
	case errors.As(err, new(*CommandError)):
		return client.CodeRefusedByOwner
	case errors.As(err, new(*HandOffTimeoutError)):
		return client.CodeHandOffTimeout
	}
	return client.CodeInternal
}

// errorBody is the JSON of an error answer: the message without package prefixes (errtext),
// its code; a blocked plan carries its plans, an ambiguous id its candidates.
func errorBody(err error) client.ErrorResponse {
	body := client.ErrorResponse{Error: errtext.Text(err), Code: codeOf(err)}
	var blocked *BlockedError
	if errors.As(err, &blocked) {
		if b, jerr := json.Marshal(blocked.Plans); jerr == nil {
			body.Plans = b
		}
	}
	var ambiguous *store.AmbiguousIDError
	if errors.As(err, &ambiguous) {
		body.Candidates = ambiguous.Candidates
	}
	return body
}
