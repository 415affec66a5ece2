package wire

import (
	"net/url"
	"strings"
)

// API paths of the controller for participants. "{id}" is the instance id; the patterns are in
// the syntax of net/http.ServeMux (Go 1.22+), so the controller can register, e.g.,
// "POST "+PathHeartbeat, and a participant fills them in with ParticipantPath.
const (
	// PathParticipants: POST a Registration → 201 RegistrationResponse (re-registering the same
	// instance id replaces the registration); GET → 200 []ParticipantStatus.
	PathParticipants = "/v1/participants"
	// PathParticipant: DELETE → 204, deregisters (also the DBA's explicit eviction); GET → 200
	// ParticipantStatus; 404 when unknown.
	PathParticipant = "/v1/participants/{id}"
	// PathHeartbeat: POST a Heartbeat → 200 RegistrationResponse; 404 when the controller does
	// not know the instance (it restarted or evicted it): the participant registers again.
	PathHeartbeat = "/v1/participants/{id}/heartbeat"
	// PathPending: GET → 200 PhaseRequest, or 204 when nothing is pending.
	PathPending = "/v1/participants/{id}/pending"
	// PathAck: POST an Ack → 204; 409 when it does not answer the pending phase.
	PathAck = "/v1/participants/{id}/ack"
)

// HookPath is the path a ModeHTTP participant serves its hook on by convention: POST a
// PhaseRequest → 200 Ack (signed with SignResponse); 401 on a bad or replayed signature, 400 on
// a malformed body.
const HookPath = "/ghostgate/hook"

// MaxBodyBytes bounds every body of the protocol; both sides refuse larger ones.
const MaxBodyBytes = 1 << 20

// ParticipantPath fills the instance id into one of the PathX patterns, escaping it as a path
// segment.
func ParticipantPath(pattern, instanceID string) string {
	return strings.Replace(pattern, "{id}", url.PathEscape(instanceID), 1)
}
