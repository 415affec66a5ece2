package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ghostgate/ghostgate/graybox/internal/require"
)

func validRequest() PhaseRequest {
	return PhaseRequest{
		MigrationID: "m1", Schema: "shop", Table: "orders", OldVersion: "v1", NewVersion: "v2",
		Phase: PhasePrepare, Deadline: t0, Attempt: 1,
	}
}

func TestPhaseRequestValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*PhaseRequest)
		field string // "" means valid
	}{
		{"valid", func(*PhaseRequest) {}, ""},
		{"no migration", func(r *PhaseRequest) { r.MigrationID = "" }, "migration_id"},
		{"no schema", func(r *PhaseRequest) { r.Schema = "" }, "schema"},
		{"no table", func(r *PhaseRequest) { r.Table = "" }, "table"},
		{"no old version", func(r *PhaseRequest) { r.OldVersion = "" }, "old_version"},
		{"no new version", func(r *PhaseRequest) { r.NewVersion = "" }, "new_version"},
		{"same versions", func(r *PhaseRequest) { r.NewVersion = "v1" }, "new_version"},
		{"bad phase", func(r *PhaseRequest) { r.Phase = "rollback" }, "phase"},
		{"no deadline", func(r *PhaseRequest) { r.Deadline = time.Time{} }, "deadline"},
		{"attempt zero", func(r *PhaseRequest) { r.Attempt = 0 }, "attempt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validRequest()
			tt.edit(&r)
			err := r.Validate()
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tt.field, fe.Field)
			require.ErrorIs(t, err, ErrInvalid)
		})
	}
}

func TestRegistrationValidate(t *testing.T) {
	httpReg := Registration{Service: "svc", InstanceID: "i-1", Tables: []string{"shop.orders"},
		Mode: ModeHTTP, HookURL: "http://127.0.0.1:8080/ghostgate/hook", Host: "h"}
	sigReg := Registration{Service: "svc", InstanceID: "i-2", Tables: []string{"shop.orders"},
		Mode: ModeSignal, PID: 42, Host: "h"}
	tests := []struct {
		name  string
		reg   Registration
		edit  func(*Registration)
		field string
	}{
		{"http valid", httpReg, func(*Registration) {}, ""},
		{"signal valid, default signal", sigReg, func(*Registration) {}, ""},
		{"signal valid, SIGUSR1", sigReg, func(r *Registration) { r.Signal = "SIGUSR1" }, ""},
		{"no service", httpReg, func(r *Registration) { r.Service = "" }, "service"},
		{"no instance", httpReg, func(r *Registration) { r.InstanceID = "" }, "instance_id"},
		{"instance with slash", httpReg, func(r *Registration) { r.InstanceID = "a/b" }, "instance_id"},
		{"instance dot", httpReg, func(r *Registration) { r.InstanceID = "." }, "instance_id"},
		{"instance dot dot", httpReg, func(r *Registration) { r.InstanceID = ".." }, "instance_id"},
		{"instance with space", httpReg, func(r *Registration) { r.InstanceID = "a b" }, "instance_id"},
		{"instance with percent", httpReg, func(r *Registration) { r.InstanceID = "a%2F" }, "instance_id"},
		{"instance too long", httpReg, func(r *Registration) { r.InstanceID = strings.Repeat("a", MaxInstanceIDLen+1) }, "instance_id"},
		{"no tables", httpReg, func(r *Registration) { r.Tables = nil }, "tables"},
		{"unqualified table", httpReg, func(r *Registration) { r.Tables = []string{"orders"} }, "tables"},
		{"empty schema", httpReg, func(r *Registration) { r.Tables = []string{".orders"} }, "tables"},
		{"relative hook", httpReg, func(r *Registration) { r.HookURL = "/ghostgate/hook" }, "hook_url"},
		{"ftp hook", httpReg, func(r *Registration) { r.HookURL = "ftp://h/x" }, "hook_url"},
		{"no pid", sigReg, func(r *Registration) { r.PID = 0 }, "pid"},
		{"SIGKILL", sigReg, func(r *Registration) { r.Signal = "SIGKILL" }, "signal"},
		{"bad mode", httpReg, func(r *Registration) { r.Mode = "carrier-pigeon" }, "mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.reg
			r.Tables = append([]string(nil), r.Tables...)
			tt.edit(&r)
			err := r.Validate()
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tt.field, fe.Field)
		})
	}
	require.Equal(t, "SIGUSR2", sigReg.SignalName())
}

func TestAckValidate(t *testing.T) {
	require.NoError(t, Ack{InstanceID: "i", MigrationID: "m", Phase: PhaseCommit}.Validate())
	require.ErrorIs(t, Ack{MigrationID: "m", Phase: PhaseCommit}.Validate(), ErrInvalid)
	require.ErrorIs(t, Ack{InstanceID: "i", Phase: PhaseCommit}.Validate(), ErrInvalid)
	require.ErrorIs(t, Ack{InstanceID: "i", MigrationID: "m"}.Validate(), ErrInvalid)
}

// TestJSONShape pins the field names of the contract (snake_case, RFC 3339 times).
func TestJSONShape(t *testing.T) {
	b, err := json.Marshal(validRequest())
	require.NoError(t, err)
	require.JSONEq(t, `{"migration_id":"m1","schema":"shop","table":"orders","old_version":"v1",
		"new_version":"v2","phase":"prepare","deadline":"2026-11-21T12:00:00Z","attempt":1}`, string(b))

	b, err = json.Marshal(Ack{InstanceID: "i", MigrationID: "m", Phase: PhaseAbort, Ready: false, Message: "no"})
	require.NoError(t, err)
	require.JSONEq(t, `{"instance_id":"i","migration_id":"m","phase":"abort","ready":false,"message":"no"}`, string(b))

	b, err = json.Marshal(Registration{Service: "s", InstanceID: "i", Tables: []string{"a.b"}, Mode: ModeSignal, PID: 7, Signal: "SIGUSR2", Host: "h"})
	require.NoError(t, err)
	require.JSONEq(t, `{"service":"s","instance_id":"i","tables":["a.b"],"mode":"signal","pid":7,"signal":"SIGUSR2","host":"h"}`, string(b))

	var rr RegistrationResponse
	require.NoError(t, json.Unmarshal([]byte(`{"instance_id":"i","lease_ttl_ms":1500,"lease_expires":"2026-11-21T12:00:00Z","pending":true}`), &rr))
	require.Equal(t, 1500*time.Millisecond, rr.LeaseTTL())
	require.True(t, rr.Pending)

	var back PhaseRequest
	require.NoError(t, json.Unmarshal([]byte(`{"deadline":"2026-11-21T12:00:00+01:00"}`), &back))
	require.True(t, back.Deadline.Equal(t0.Add(-time.Hour)))
}

func TestParticipantPath(t *testing.T) {
	tests := []struct{ pattern, id, want string }{
		{PathParticipant, "i-1", "/v1/participants/i-1"},
		{PathHeartbeat, "i-1", "/v1/participants/i-1/heartbeat"},
		{PathPending, "host:8080", "/v1/participants/host:8080/pending"},
		{PathAck, "a b", "/v1/participants/a%20b/ack"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, ParticipantPath(tt.pattern, tt.id))
	}
}

func TestPhaseRequestKey(t *testing.T) {
	a, b := validRequest(), validRequest()
	b.Attempt = 2
	b.Deadline = t0.Add(time.Minute)
	require.Equal(t, a.Key(), b.Key(), "a re-delivery is the same step")
	b.Phase = PhaseCommit
	require.NotEqual(t, a.Key(), b.Key())
	require.Equal(t, "shop.orders", a.QualifiedTable())
}
