package graybox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
)

type hook struct{ p *Participant }

func (h hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, errors.New("method not allowed"))
		return
	}
	body, err := wire.ReadBody(r.Body)
	if err != nil {
		h.p.observe(EventRefused, nil, err)
		writeError(w, http.StatusRequestEntityTooLarge, err)
		return
	}
	// Authenticate before parsing: an unauthenticated caller learns nothing about our parser.
	if err := h.p.verifier.Verify(r, body, time.Now()); err != nil {
		h.p.observe(EventRefused, nil, err)
		writeError(w, http.StatusUnauthorized, err)
		return
	}
	h.p.heardFrom(0)
	req, err := decodeRequest(body)
	if err != nil {
		h.p.observe(EventRefused, nil, err)
		writeError(w, http.StatusBadRequest, err)
		return
	}
	// Detached from the connection: if the controller gives up waiting, the step still
	// completes (bounded by its deadline) and a re-delivery gets its ack from the cache.
	ack := h.p.Apply(context.WithoutCancel(r.Context()), req)
	out, err := json.Marshal(ack)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	wire.SignResponse(w.Header(), r, out, h.p.cfg.Secret, time.Now())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out) // the controller re-delivers when it did not get the answer
}

// decodeRequest parses and validates a PhaseRequest. Unknown fields are ignored so that a newer
// controller can add fields without breaking older services; missing ones fail Validate.
func decodeRequest(body []byte) (wire.PhaseRequest, error) {
	var req wire.PhaseRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("graybox: malformed phase request: %w", err)
	}
	if dec.More() {
		return req, errors.New("graybox: malformed phase request: trailing data")
	}
	if err := req.Validate(); err != nil {
		return req, err
	}
	return req, nil
}

func writeError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(wire.ErrorResponse{Error: err.Error()})
}
