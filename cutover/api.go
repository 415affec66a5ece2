package cutover

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
)

// Handler serves the participant endpoints of the API (package wire's paths):
//
//	POST   /v1/participants                 Registration → 201 RegistrationResponse   (signed)
//	GET    /v1/participants                 → 200 []ParticipantStatus                 (read-only)
//	GET    /v1/participants/{id}            → 200 ParticipantStatus, 404              (read-only)
//	DELETE /v1/participants/{id}            → 204, 404                                (signed)
//	POST   /v1/participants/{id}/heartbeat  Heartbeat → 200 RegistrationResponse, 404 (signed)
//	GET    /v1/participants/{id}/pending    → 200 PhaseRequest (signed response), 204 (signed)
//	POST   /v1/participants/{id}/ack        Ack → 204, 409 when not pending           (signed)
//	POST   /v1/participants/{id}/health     HealthReport → 200 RegistrationResponse   (signed)
//
// Signed requests carry wire.Sign's headers with the shared secret: a bad signature, a stale
// timestamp or a replay is answered 401, a malformed body 400, and nothing changes on error.
// Mount it on the API's mux under "/v1/participants" (both the exact path and the subtree).
func (r *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+wire.PathParticipants, r.serveRegister)
	mux.HandleFunc("GET "+wire.PathParticipants, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, r.Participants())
	})
	mux.HandleFunc("GET "+wire.PathParticipant, func(w http.ResponseWriter, req *http.Request) {
		s, err := r.Participant(req.PathValue("id"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, s)
	})
	mux.HandleFunc("DELETE "+wire.PathParticipant, r.serveDeregister)
	mux.HandleFunc("POST "+wire.PathHeartbeat, r.serveHeartbeat)
	mux.HandleFunc("GET "+wire.PathPending, r.servePending)
	mux.HandleFunc("POST "+wire.PathAck, r.serveAck)
	mux.HandleFunc("POST "+wire.PathHealth, r.serveHealth)
	return mux
}

// errMalformed marks a body that is not the JSON message expected (400).
var errMalformed = errors.New("cutover: malformed body")

// authenticate reads the body and verifies the request's signature before anything is parsed,
// so an unauthenticated caller learns nothing about the parser.
func (r *Registry) authenticate(req *http.Request) ([]byte, error) {
	body, err := wire.ReadBody(req.Body)
	if err != nil {
		return nil, err
	}
	if err := r.verifier.Verify(req, body, time.Now()); err != nil {
		return nil, err
	}
	return body, nil
}

// decode parses exactly one JSON value; unknown fields are ignored so newer participants can add
// fields without breaking an older controller.
func decode(body []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(into); err != nil {
		return fmt.Errorf("%w: %w", errMalformed, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", errMalformed)
	}
	return nil
}

func (r *Registry) serveRegister(w http.ResponseWriter, req *http.Request) {
	var reg wire.Registration
	body, err := r.authenticate(req)
	if err == nil {
		err = decode(body, &reg)
	}
	var resp wire.RegistrationResponse
	var start uint64
	if err == nil && reg.Mode == wire.ModeSignal && reg.PID > 0 {
		// The pid must be the registering process's own: the kernel is asked (peerPID).
		start, err = peerPID(req, reg.PID)
	}
	if err == nil {
		resp, err = r.register(reg, start)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (r *Registry) serveHeartbeat(w http.ResponseWriter, req *http.Request) {
	var hb wire.Heartbeat
	body, err := r.authenticate(req)
	if err == nil {
		err = decode(body, &hb)
	}
	var resp wire.RegistrationResponse
	if err == nil {
		resp, err = r.Heartbeat(req.PathValue("id"), hb)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (r *Registry) serveDeregister(w http.ResponseWriter, req *http.Request) {
	_, err := r.authenticate(req)
	if err == nil {
		err = r.Evict(req.PathValue("id"))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// servePending answers with the pending phase, signed (wire.SignResponse): it is an instruction,
// and the participant believes only one bound to the request it made.
func (r *Registry) servePending(w http.ResponseWriter, req *http.Request) {
	_, err := r.authenticate(req)
	var pr wire.PhaseRequest
	var ok bool
	if err == nil {
		pr, ok, err = r.Pending(req.PathValue("id"))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	out, err := json.Marshal(pr)
	if err != nil {
		writeError(w, err)
		return
	}
	wire.SignResponse(w.Header(), req, out, r.cfg.Secret, time.Now())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

func (r *Registry) serveAck(w http.ResponseWriter, req *http.Request) {
	var a wire.Ack
	body, err := r.authenticate(req)
	if err == nil {
		err = decode(body, &a)
	}
	if err == nil {
		err = r.Ack(req.PathValue("id"), a)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// statusOf maps an error to its HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, wire.ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, wire.ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errMalformed), errors.Is(err, wire.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnknownInstance):
		return http.StatusNotFound
	case errors.Is(err, ErrNotPending):
		return http.StatusConflict
	case errors.Is(err, ErrPIDNotVerified):
		return http.StatusForbidden
	case errors.Is(err, ErrTooManyInstances):
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, statusOf(err), wire.ErrorResponse{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
